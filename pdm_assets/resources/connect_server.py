"""Start and stop a local Spark Connect server from the pyspark distribution, on a free port (tests, benchmarks)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyspark

from pdm_assets.resources.spark import CODEGEN_CACHE_CONF, LOCAL_DELTA_CONF
from pdm_assets.storage import delta_jars

SBIN = Path(pyspark.__file__).parent / "sbin"
# pyspark 4.0's wheel ships spark-daemon.sh but not start-connect-server.sh, which only wraps this:
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def connect_server(workdir: Path, timeout_s: float = 180, master: str = "local[2]",
                   shuffle_partitions: int = 2) -> Iterator[str]:
    """Yield `sc://127.0.0.1:<port>` of a running Connect server (`local[2]` by default)."""
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(SBIN.parent), "SPARK_LOG_DIR": str(workdir / "logs"),
           "SPARK_PID_DIR": str(workdir), "SPARK_IDENT_STRING": f"pdm{port}",
           # the server's Python workers run this environment's interpreter
           "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_REMOTE", None)
    start = [str(SBIN / "spark-daemon.sh"), "submit", SERVER_CLASS, "1", "--name", "Spark Connect server",
             "--master", master,
             "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
             "--conf", "spark.sql.session.timeZone=UTC", "--conf", f"spark.sql.shuffle.partitions={shuffle_partitions}",
             # tables are named per session in memory (no Derby metastore_db in the working folder)
             "--conf", "spark.sql.catalogImplementation=in-memory", *delta_jars.server_args(),
             *[arg for key, value in {**CODEGEN_CACHE_CONF, **LOCAL_DELTA_CONF}.items()
               for arg in ("--conf", f"{key}={value}")]]
    subprocess.run(start, env=env, check=True, capture_output=True)
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
        subprocess.run([str(SBIN / "spark-daemon.sh"), "stop", SERVER_CLASS, "1"], env=env, capture_output=True)
