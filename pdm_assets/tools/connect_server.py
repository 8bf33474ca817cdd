"""A local Spark Connect server from the pyspark installation, with Delta Lake: `pdm-connect-server`, and one for tests.

pyspark 4.0's wheel has no `start-connect-server.sh`; that script only hands the server class to
`spark-submit`, which is what both do here.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import pyspark

from pdm_assets.storage.spark_session import CODEGEN_CACHE_CONF, LOCAL_DELTA_CONF, driver_identity
from pdm_assets.storage import delta_jars, jvm_archive

SPARK_HOME = Path(pyspark.__file__).parent
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002


def server_arguments(port: int, master: str, shuffle_partitions: int) -> list[str]:
    """spark-submit options of a server that runs this project's tables and plans as the embedded session does."""
    conf = {"spark.connect.grpc.binding.port": str(port), "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": str(shuffle_partitions),
            # table names live in memory per server (no Derby metastore_db in the working folder)
            "spark.sql.catalogImplementation": "in-memory", **CODEGEN_CACHE_CONF, **LOCAL_DELTA_CONF}
    archive = jvm_archive.mapping_options(driver_identity())  # Spark's classes, as an embedded session maps them
    return ["--name", "Spark Connect server", "--master", master, *delta_jars.server_args(),
            *(["--driver-java-options", archive] if archive else []),
            *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]]


def _environment(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    # the server's Python workers run this environment's interpreter
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "PYSPARK_PYTHON": sys.executable, **(extra or {})}
    env.pop("SPARK_REMOTE", None)
    return env


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`pdm-connect-server`: run a Spark Connect server in the foreground (Ctrl-C stops it)."""
    p = argparse.ArgumentParser(prog="pdm-connect-server", description=main.__doc__)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--master", default="local[*]")
    p.add_argument("--shuffle-partitions", type=int, default=8)
    args = p.parse_args(argv)
    from pdm_assets.storage.spark_session import JavaNotFoundError, require_java

    try:
        require_java()
    except JavaNotFoundError as err:
        print(f"pdm-connect-server: {err}", file=sys.stderr)
        return 2
    delta_jars.announce_download()
    print(f"pdm-connect-server: serving sc://127.0.0.1:{args.port} (export SPARK_REMOTE=sc://127.0.0.1:{args.port})",
          file=sys.stderr)
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--class", SERVER_CLASS,
               *server_arguments(args.port, args.master, args.shuffle_partitions)]
    try:
        return subprocess.run(command, env=_environment()).returncode
    except KeyboardInterrupt:
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def connect_server(workdir: Path, timeout_s: float = 180, master: str = "local[2]",
                   shuffle_partitions: int = 2) -> Iterator[str]:
    """Yield `sc://127.0.0.1:<port>` of a server running in the background (tests, benchmarks)."""
    port = _free_port()
    env = _environment({"SPARK_LOG_DIR": str(workdir / "logs"), "SPARK_PID_DIR": str(workdir),
                        "SPARK_IDENT_STRING": f"pdm{port}"})
    daemon = str(SPARK_HOME / "sbin" / "spark-daemon.sh")
    subprocess.run([daemon, "submit", SERVER_CLASS, "1", *server_arguments(port, master, shuffle_partitions)],
                   env=env, check=True, capture_output=True)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            logs = "\n".join(p.read_text()[-2000:] for p in (workdir / "logs").glob("*"))
            raise TimeoutError(f"Spark Connect server did not listen on {port} within {timeout_s} s:\n{logs}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run([daemon, "stop", SERVER_CLASS, "1"], env=env, capture_output=True)
