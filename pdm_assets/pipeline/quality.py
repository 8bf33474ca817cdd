"""Data-quality measurements behind the asset checks: plain numbers, no Dagster."""
from __future__ import annotations

from datetime import date
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType


def schema_differences(actual: StructType, expected: StructType) -> list[str]:
    """Human-readable differences between a stored schema and the contract (empty when equal)."""
    found = {f.name: f.dataType.simpleString() for f in actual.fields}
    wanted = {f.name: f.dataType.simpleString() for f in expected.fields}
    problems = [f"missing column {name} ({kind})" for name, kind in wanted.items() if name not in found]
    problems += [f"unexpected column {name} ({kind})" for name, kind in found.items() if name not in wanted]
    problems += [
        f"column {name} is {found[name]}, contract says {kind}"
        for name, kind in wanted.items()
        if name in found and found[name] != kind
    ]
    return problems


def duplicate_key_count(df: DataFrame, key: Sequence[str]) -> int:
    """Rows beyond the first for each key value."""
    row = df.groupBy(*key).count().where("count > 1").agg(F.sum(F.col("count") - 1).alias("extra")).first()
    return int(row["extra"] or 0) if row else 0


def telemetry_profile(
    telemetry: DataFrame, key: Sequence[str], machine_count: int, days: Sequence[date], readings_per_day: int = 24
) -> dict[str, int]:
    """Duplicate keys and completeness of stored telemetry, from one job.

    duplicate_rows (rows beyond the first per key), expected_machine_days (machines x days),
    missing_machine_days (machine-days with no reading) and irregular_machine_days (with a reading
    count other than `readings_per_day`).
    """
    per_key = telemetry.groupBy("machine_id", "date", *[k for k in key if k not in ("machine_id", "date")]).count()
    per_machine_day = per_key.groupBy("machine_id", "date").agg(
        F.sum("count").alias("readings"), F.sum(F.col("count") - 1).alias("extra"))
    stats = per_machine_day.agg(
        F.count("*").alias("present"),
        F.count_if(F.col("readings") != readings_per_day).alias("irregular"),
        F.sum("extra").alias("duplicates"),
    ).first()
    expected = machine_count * len(days)
    return {
        "duplicate_rows": int(stats["duplicates"] or 0),
        "expected_machine_days": expected,
        "missing_machine_days": max(expected - int(stats["present"] or 0), 0),
        "irregular_machine_days": int(stats["irregular"] or 0),
    }


def feature_profile(
    features: DataFrame, machines: DataFrame, columns: Sequence[str], day_column: str = "date"
) -> tuple[dict[str, dict[str, int]], int]:
    """Per day: rows, distinct (machine_id, timestamp) keys and nulls per column; and the known machines.

    One Spark job (the machine count rides along as a cross join): ({day: {"_rows", "_keys", column...}}, machines).
    """
    per_day = features.groupBy(F.col(day_column).cast("string").alias("_day")).agg(
        F.count("*").alias("_rows"),
        F.count_distinct("machine_id", "timestamp").alias("_keys"),
        *[F.count_if(F.col(c).isNull()).alias(c) for c in columns],
    )
    known = machines.agg(F.count_distinct("machine_id").alias("_machines"))
    rows = known.join(per_day, how="left").collect()  # one row with nulls when there are no features
    days = {r["_day"]: {k: int(r[k] or 0) for k in ("_rows", "_keys", *columns)} for r in rows if r["_day"] is not None}
    return days, int(rows[0]["_machines"]) if rows else 0


def label_profile(labels: DataFrame, day_column: str = "date") -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """({day (YYYY-MM-DD): {label: rows}}, {day: rows whose label is not final}) from one aggregation."""
    cells: dict[str, dict[str, int]] = {}
    provisional: dict[str, int] = {}
    for r in labels.groupBy(day_column, "label").agg(F.count("*").alias("rows"),
                                                     F.count_if(~F.col("final")).alias("provisional")).collect():
        day = str(r[day_column])
        cells.setdefault(day, {})[r["label"]] = r["rows"]
        provisional[day] = provisional.get(day, 0) + r["provisional"]
    return cells, provisional


def sum_over_days(per_day: dict[str, dict[str, int]]) -> dict[str, int]:
    """{key: count} summed over all days of a {day: {key: count}} table."""
    summed: dict[str, int] = {}
    for per_value in per_day.values():
        for value, n in per_value.items():
            summed[value] = summed.get(value, 0) + n
    return summed




def coverage_counts(scored: DataFrame, source: DataFrame, keys: Sequence[str]) -> dict[str, int]:
    """How `scored` rows cover `source` rows by key, from one job (a full outer join of per-key counts).

    rows / distinct_keys of `scored`, source_rows, source_rows_unmatched (no scored row with their
    key) and scored_rows_unmatched (no source row with their key).
    """
    one = F.count(F.lit(1))
    joined = scored.groupBy(*keys).agg(one.alias("_s")).join(
        source.groupBy(*keys).agg(one.alias("_o")), list(keys), "full_outer")
    row = joined.agg(
        F.sum("_s").alias("rows"), F.count("_s").alias("distinct_keys"), F.sum("_o").alias("source_rows"),
        F.sum(F.when(F.col("_s").isNull(), F.col("_o"))).alias("source_rows_unmatched"),
        F.sum(F.when(F.col("_o").isNull(), F.col("_s"))).alias("scored_rows_unmatched"),
    ).first()
    return {name: int(row[name] or 0) for name in row.asDict()}


def rows_without_match(left: DataFrame, right: DataFrame, keys: Sequence[str]) -> int:
    """Rows of `left` whose key has no row in `right`."""
    return left.join(right.select(*keys).distinct(), list(keys), "left_anti").count()
