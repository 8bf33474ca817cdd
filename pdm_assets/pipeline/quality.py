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


def telemetry_completeness(
    telemetry: DataFrame, machines: DataFrame, days: Sequence[date], readings_per_day: int = 24
) -> dict[str, int]:
    """Machine-days with fewer or more readings than expected, and machine-days with none."""
    per_day = telemetry.groupBy("machine_id", "date").count()
    stats = per_day.agg(
        F.count("*").alias("present"),
        F.sum(F.when(F.col("count") != readings_per_day, 1).otherwise(0)).alias("irregular"),
    ).first()
    machine_count = machines.select("machine_id").distinct().count()
    expected = machine_count * len(days)
    present = int(stats["present"] or 0)
    return {
        "expected_machine_days": expected,
        "missing_machine_days": max(expected - present, 0),
        "irregular_machine_days": int(stats["irregular"] or 0),
    }


def feature_profile(
    features: DataFrame, machines: DataFrame, points: int, columns: Sequence[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Grid coverage (rows, distinct keys, expected machines x points) and nulls per column, one pass."""
    stats = features.agg(
        F.count("*").alias("_rows"),
        F.count_distinct("machine_id", "timestamp").alias("_keys"),
        *[F.count_if(F.col(c).isNull()).alias(c) for c in columns],
    ).first()
    expected = machines.select("machine_id").distinct().count() * points
    coverage = {"rows": int(stats["_rows"]), "distinct_keys": int(stats["_keys"]), "expected_rows": expected}
    return coverage, {c: int(stats[c] or 0) for c in columns}


def counts_by_day_and(df: DataFrame, column: str, day_column: str = "date") -> dict[str, dict[str, int]]:
    """{day (YYYY-MM-DD): {value of `column`: rows}} from one aggregation."""
    cells: dict[str, dict[str, int]] = {}
    for r in df.groupBy(day_column, column).count().collect():
        cells.setdefault(str(r[day_column]), {})[r[column]] = r["count"]
    return cells


def totals(cells: dict[str, dict[str, int]]) -> dict[str, int]:
    """Sum a {day: {value: rows}} table over its days."""
    summed: dict[str, int] = {}
    for per_value in cells.values():
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
