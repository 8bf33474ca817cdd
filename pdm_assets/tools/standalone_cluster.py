"""A Spark standalone cluster on loopback from the pyspark installation: one master, N workers, each its own JVM.

    with StandaloneCluster(workers=2) as cluster:
        os.environ["PDM_SPARK_MASTER"] = cluster.url   # spark://127.0.0.1:<port>

The executors run in the workers' JVMs and their Python in this environment's interpreter, so a
run through `cluster.url` has no shared memory with the driver: what breaks on a real cluster
(driver-side reads, local-only objects, collects) breaks here too. The tables' folders are local
paths every process on this machine sees, as a shared filesystem would be on a cluster.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Optional

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterStartError(RuntimeError):
    """The master or a worker did not come up; the message carries its log's end."""


def spark_home() -> Path:
    """The pyspark installation: its `bin/spark-class` starts the master and the workers."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandaloneCluster:
    """Master and workers as subprocesses (a context manager); `url` is what PDM_SPARK_MASTER takes."""

    def __init__(self, workers: int = 2, cores: int = 1, memory: str = "1g", work_dir: Optional[Path] = None,
                 timeout: float = 90.0) -> None:
        self.workers, self.cores, self.memory, self.timeout = workers, cores, memory, timeout
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="pdm_standalone_"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port, self.ui_port = _free_port(), _free_port()
        self._processes: list[tuple[str, subprocess.Popen]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The processes' environment: loopback only, and the executors' Python is this interpreter."""
        return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
                "PYSPARK_PYTHON": sys.executable, "SPARK_WORKER_DIR": str(self.work_dir / "work")}

    def start(self) -> "StandaloneCluster":
        self._spawn("master", MASTER_CLASS, "--host", "127.0.0.1", "--port", str(self.port),
                    "--webui-port", str(self.ui_port))
        for n in range(self.workers):
            self._spawn(f"worker{n + 1}", WORKER_CLASS, self.url, "--host", "127.0.0.1", "--cores", str(self.cores),
                        "--memory", self.memory, "--webui-port", str(_free_port()),
                        "--work-dir", str(self.work_dir / "work"))
        self._wait_for_workers()
        return self

    def _spawn(self, name: str, main_class: str, *args: str) -> None:
        log = open(self.work_dir / f"{name}.log", "wb")  # noqa: SIM115 - open for the process's life, closed by stop()
        self._logs.append(log)
        process = subprocess.Popen([str(spark_home() / "bin" / "spark-class"), main_class, *args], env=self.env(),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        self._processes.append((name, process))

    def alive_workers(self) -> int:
        """How many workers the master has registered (its web UI's JSON), 0 while it is not up."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as answer:
                return int(json.load(answer).get("aliveworkers", 0))
        except OSError:
            return 0

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.timeout
        while self.alive_workers() < self.workers:
            for name, process in self._processes:
                if process.poll() is not None:
                    self.stop()
                    raise ClusterStartError(f"the {name} exited with {process.returncode}:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                self.stop()
                raise ClusterStartError(f"{self.alive_workers()} of {self.workers} workers registered after "
                                        f"{self.timeout:.0f} s; master log:\n{self.log_tail('master')}")
            time.sleep(0.5)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.work_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """Workers first, then the master (each JVM and what it started)."""
        for _, process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for _, process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> "StandaloneCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
