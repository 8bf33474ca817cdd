"""The fixed cost of replacing one day: plain Parquet, Delta's replaceWhere, and the project's store.

    python -m pdm_assets.tools.benchmarks.delta_write --machines 100 --writes 8

Builds a 365-day table shaped like machine_features (machines x 8 grid points a day, 40 value
columns), then replaces the next days one at a time, as a new day's run does, three ways: a plain
Parquet partition overwrite (what the project's Parquet store did, minus its journal), a Delta
`replaceWhere` through Spark, and `DeltaTableStore.write` (replaceWhere plus its schema check,
version lookup and ledger). Prints the median seconds and Spark jobs per write of each; the first
two writes of each kind warm the session and are left out.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

FIRST_DAY = date(2015, 1, 1)
VALUE_COLUMNS = 40
WARM_UP = 2


def _days_frame(spark: SparkSession, first: date, days: int, machines: int) -> DataFrame:
    rows_per_day = machines * 8
    frame = spark.range(days * rows_per_day).withColumn(
        "date", F.date_add(F.lit(first), (F.col("id") / rows_per_day).cast("int")))
    return frame.select("date", (F.col("id") % machines).cast("int").alias("machine_id"),
                        *[(F.col("id") * (i + 1) % 997).cast("double").alias(f"value_{i}") for i in range(VALUE_COLUMNS)])


def _timed(spark: SparkSession, label: str, write: Callable[[date], None], days: list[date]) -> dict[str, float]:
    """Median seconds and Spark jobs per one-day write, after the warm-up writes."""
    tracker = spark.sparkContext.statusTracker()
    seconds, jobs = [], []
    for n, day in enumerate(days):
        group = f"bench-{label}-{n}"
        spark.sparkContext.setJobGroup(group, group)
        began = time.perf_counter()
        write(day)
        seconds.append(time.perf_counter() - began)
        jobs.append(len(tracker.getJobIdsForGroup(group)))
    spark.sparkContext.setJobGroup("", "")
    return {"median_s": statistics.median(seconds[WARM_UP:]), "jobs": statistics.median(jobs[WARM_UP:])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--writes", type=int, default=8, help="one-day writes of each kind (the first two warm up)")
    args = p.parse_args()
    from pdm_assets.storage.delta_store import DeltaTableStore
    from pdm_assets.storage.spark_session import create_spark_session

    spark = create_spark_session("local[*]", shuffle_partitions=8)
    root = Path(tempfile.mkdtemp(prefix="pdm_delta_write_"))
    year = [FIRST_DAY + timedelta(days=i) for i in range(365)]
    store = DeltaTableStore.local(root / "warehouse")
    parquet, delta = str(root / "parquet"), store.where("delta_plain")
    year_rows = _days_frame(spark, FIRST_DAY, 365, args.machines).repartition("date")
    year_rows.write.partitionBy("date").parquet(parquet)
    year_rows.write.format("delta").partitionBy("date").save(delta)
    store.write(year_rows, "through_store", year)

    new_days = [year[-1] + timedelta(days=i + 1) for i in range(args.writes)]  # each kind replaces the same days

    def day_rows(day: date) -> DataFrame:
        return _days_frame(spark, day, 1, args.machines).repartition("date")

    results = {
        "parquet partition overwrite": _timed(spark, "parquet", lambda d: day_rows(d).write.mode("overwrite").option(
            "partitionOverwriteMode", "dynamic").partitionBy("date").parquet(parquet), new_days),
        "delta replaceWhere": _timed(spark, "delta", lambda d: day_rows(d).write.format("delta").mode("overwrite").option(
            "replaceWhere", f"date = '{d.isoformat()}'").save(delta), new_days),
        "DeltaTableStore.write": _timed(spark, "store", lambda d: store.write(day_rows(d), "through_store", [d]),
                                        new_days),
    }
    print(f"\n== one-day writes into a 365-day table, {args.machines * 8} rows a day, "
          f"{args.writes - WARM_UP} timed writes each ({root}) ==")
    print(f"{'':30}{'median s':>10}{'Spark jobs':>12}")
    for label, figures in results.items():
        print(f"{label:30}{figures['median_s']:>10.2f}{figures['jobs']:>12.0f}")


if __name__ == "__main__":
    main()
