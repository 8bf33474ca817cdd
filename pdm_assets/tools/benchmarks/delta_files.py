"""Small files: a year of machine_features written as one backfill and as 365 one-day runs, and reading it back.

    python -m pdm_assets.tools.benchmarks.delta_files --home <PDM_HOME after benchmarks.features_backfill>

Prints live files, log entries and read times (a year, the last 90 days, one day) of the table the
backfill wrote, of a copy written one day per commit as a year of daily runs would, and of that
copy after Delta's OPTIMIZE.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pyspark.sql import functions as F

SOURCE, DAILY = "machine_features", "bench_machine_features_daily"


def _reads(spark, store, table: str, days) -> dict[str, float]:
    """Best of three warm reads: a year aggregated, the last 90 days, the last day."""
    def best(frame_of) -> float:
        times = []
        for _ in range(3):
            began = time.perf_counter()
            frame_of().agg(F.count("*"), F.avg("volt_mean_3h")).collect()
            times.append(time.perf_counter() - began)
        return min(times)

    return {"year_s": best(lambda: store.read(spark, table)),
            "last_90_days_s": best(lambda: store.read(spark, table, days[-90:])),
            "one_day_s": best(lambda: store.read(spark, table, days[-1:]))}


def _layout(location: str) -> dict[str, int]:
    from pdm_assets.storage import delta_log

    table = delta_log.open_table(location)
    files = [Path(u.removeprefix("file://")) for u in table.file_uris()]
    log = Path(location) / "_delta_log"
    return {"live_files": len(files), "mean_file_kb": int(sum(f.stat().st_size for f in files) / len(files) / 1024),
            "log_files": sum(1 for _ in log.iterdir()), "version": table.version()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--days", type=int, default=365, help="one-day runs to replay (default: the whole year)")
    args = p.parse_args()
    from pdm_assets.storage.spark_session import create_spark_session
    from pdm_assets.storage.delta_store import DeltaTableStore

    spark = create_spark_session("local[*]", shuffle_partitions=8)
    store = DeltaTableStore.local(args.home / "warehouse")
    days = store.existing_days(SOURCE)[:args.days]
    figures = {"backfill": {**_layout(store.where(SOURCE)), **_reads(spark, store, SOURCE, days)}}

    writes = []
    for day in days:  # what a year of daily runs leaves: one commit per day
        began = time.perf_counter()
        store.write(store.read(spark, SOURCE, [day]), DAILY, [day])
        writes.append(time.perf_counter() - began)
    figures["365 one-day runs"] = {**_layout(store.where(DAILY)), **_reads(spark, store, DAILY, days)}
    began = time.perf_counter()
    spark.sql(f"OPTIMIZE delta.`{store.where(DAILY)}`").collect()
    optimize_s = time.perf_counter() - began
    figures["after OPTIMIZE"] = {**_layout(store.where(DAILY)), **_reads(spark, store, DAILY, days)}

    keys = ["live_files", "mean_file_kb", "log_files", "version", "year_s", "last_90_days_s", "one_day_s"]
    print(f"\n== {SOURCE}, {len(days)} days, {args.home} ==")
    print(f"{'':20}" + "".join(f"{k:>16}" for k in keys))
    for name, values in figures.items():
        print(f"{name:20}" + "".join(f"{values[k]:>16.3f}" if isinstance(values[k], float) else f"{values[k]:>16}"
                                     for k in keys))
    print(f"one-day writes: median {statistics.median(writes):.2f} s, total {sum(writes):.0f} s; "
          f"OPTIMIZE {optimize_s:.1f} s")


if __name__ == "__main__":
    main()
