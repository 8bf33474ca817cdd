"""A cold Spark start with and without the driver's class archive: an embedded session and a Connect server.

    python -m pdm_assets.tools.benchmarks.jvm_start --runs 5

Each run is a new process, as a `dagster asset materialize` or a run launched by `dagster dev` is:
"embedded" starts the session and writes and reads a one-row Delta table; "connect" starts a
`pdm-connect-server` and runs one query through it. The two settings alternate run by run (the
machine's speed drifts), and the medians and their ratio are printed. The archive is recorded
first when missing (tools/record_jvm_archive.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdm_assets.storage import jvm_archive
from pdm_assets.tools.record_jvm_archive import record_now


def _embedded() -> dict[str, float]:
    began = time.perf_counter()
    from pdm_assets.storage.spark_session import create_spark_session

    spark = create_spark_session(master="local[2]", shuffle_partitions=2)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pdm_jvm_start_") as scratch:
        spark.createDataFrame([(1, "a")], "x int, y string").write.format("delta").save(scratch + "/t")
        assert spark.read.format("delta").load(scratch + "/t").count() == 1
    return {"start_s": started - began, "first_work_s": time.perf_counter() - started}


def _connect() -> dict[str, float]:
    began = time.perf_counter()
    from pyspark.sql import SparkSession

    from pdm_assets.tools.connect_server import connect_server

    with tempfile.TemporaryDirectory(prefix="pdm_jvm_start_") as scratch:
        with connect_server(Path(scratch)) as remote:
            started = time.perf_counter()
            assert SparkSession.builder.remote(remote).getOrCreate().range(10).count() == 10
            return {"start_s": started - began, "first_work_s": time.perf_counter() - started}


def _run(kind: str, archive: bool) -> dict[str, float]:
    env = dict(os.environ)
    if not archive:
        env[jvm_archive.FOLDER_VARIABLE] = "off"
    began = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", __spec__.name, "--child", kind], env=env, capture_output=True,
                         text=True)
    wall = time.perf_counter() - began
    if out.returncode:
        raise SystemExit(f"{kind} run failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process_s": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--child", choices=("embedded", "connect"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_embedded() if args.child == "embedded" else _connect()))
        return
    archive = record_now()
    if archive is None:
        raise SystemExit("no class archive: PDM_JVM_ARCHIVE_DIR=off, or its recording failed")
    print(f"archive: {archive} ({archive.stat().st_size / 2**20:,.0f} MiB)")
    for kind in ("embedded", "connect"):
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for _ in range(args.runs):
            for with_archive in (True, False):
                runs[with_archive].append(_run(kind, with_archive))
        print(f"\n== {kind}, median of {args.runs} runs each (alternating) ==")
        print(f"{'':28}{'archive':>10}{'without':>10}{'ratio':>8}")
        for key in ("start_s", "first_work_s", "process_s"):
            on, off = (statistics.median(r[key] for r in runs[flag]) for flag in (True, False))
            print(f"{key:28}{on:>10.1f}{off:>10.1f}{on / off:>8.2f}")


if __name__ == "__main__":
    main()
