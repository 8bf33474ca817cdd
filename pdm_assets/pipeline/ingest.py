"""Parse landing CSVs into typed raw rows and rejects (with reason and source line), in Spark.

Each file is read whole (`wholetext`) and split into lines with their position, so every reject
can name its file and line. Values are parsed with `try_*` functions (ANSI-safe): a bad value
becomes a reject reason, never a failed job and never a silently dropped row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import AbstractSet, Optional, Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pdm_assets.pipeline.grid import ts_text
from pdm_assets.pipeline.landing_files import LandingFile, read_header
from pdm_assets.pipeline.schemas import PARTITION_COLUMN, TIMESTAMP_FORMAT, Dataset, Field



@dataclass
class ParsedBatch:
    """Typed rows that passed every rule, and the rejected lines with their reasons."""

    valid: DataFrame
    rejects: DataFrame
    checked: DataFrame  # valid and rejects are two filters of this one parse
    cached: list[DataFrame]

    def counts_by_day(self) -> tuple[dict[str, int], dict[str, int]]:
        """Valid and rejected line counts per day ({YYYY-MM-DD or 'all': n}), from one job."""
        day = F.coalesce(F.col("_day").cast("string"), F.lit("all"))
        rows = self.checked.groupBy(day.alias("day"), F.col("_reason").isNull().alias("ok")).count().collect()
        valid = {r["day"]: r["count"] for r in rows if r["ok"]}
        rejected = {r["day"]: r["count"] for r in rows if not r["ok"]}
        return valid, rejected

    def release(self) -> None:
        """Drop the cached parse."""
        for frame in self.cached:
            frame.unpersist()


def parse_files(
    spark: SparkSession,
    dataset: Dataset,
    files: Sequence[LandingFile],
    known_machines: Optional[AbstractSet[int]],
    ingested_at: datetime,
    before_day: Optional[date] = None,
) -> ParsedBatch:
    """Parse and validate landing files of one dataset.

    `known_machines` (the machine ids of raw_machines) enables the unknown-machine rule; `before_day`
    replaces the same-day rule for files that hold history (every row must be before it).
    """
    if not files:
        raise ValueError(f"No landing files given for dataset '{dataset.name}'")
    positions = {f.path: _column_positions(dataset, f.path) for f in files}
    groups: dict[tuple[int, ...], list[LandingFile]] = {}
    for f in files:  # files with the same header layout are parsed in one pass
        groups.setdefault(positions[f.path], []).append(f)
    # A string, cast in Spark: parsed in the session zone (UTC), where F.lit(datetime) would apply the
    # host's zone. It travels as data beside the file names rather than as a literal: a literal is
    # compiled into the generated code, so every run would compile its plans anew.
    stamp = ts_text(ingested_at)
    lines = None
    for layout, group in groups.items():
        part = _lines_with_fields(spark, dataset, group, layout, stamp)
        lines = part if lines is None else lines.unionByName(part)
    ruled = _apply_rules(lines, dataset, known_machines, before_day).persist(StorageLevel.MEMORY_AND_DISK)
    checked = _reject_duplicates(ruled, dataset)
    stamp = F.col("_ingested_at").cast("timestamp")
    dated = all(f.day is not None for f in files)  # history and machines files have no day
    valid = checked.where(F.col("_reason").isNull()).select(
        *[F.col(f.name) for f in dataset.fields],
        F.col("source_file"),
        stamp.alias("ingested_at"),
        *([F.col("_day").alias(PARTITION_COLUMN)] if dated else []),
    )
    rejects = checked.where(F.col("_reason").isNotNull()).select(
        F.lit(dataset.name).alias("dataset"),
        F.col("source_file"),
        F.col("line_number"),
        F.col("line"),
        F.col("_reason").alias("reason"),
        stamp.alias("ingested_at"),
        F.col("_day").alias(PARTITION_COLUMN),
    )
    return ParsedBatch(valid=valid, rejects=rejects, checked=checked, cached=[ruled])


def known_machine_ids(machines: DataFrame) -> frozenset[int]:
    """The machine ids of a machines table (one small job), for `parse_files`' unknown-machine rule."""
    return frozenset(row["machine_id"] for row in machines.select("machine_id").distinct().collect())


class MissingColumnError(ValueError):
    """A landing file's header lacks a column the contract requires."""


def _column_positions(dataset: Dataset, path: str) -> tuple[int, ...]:
    header = read_header(path)
    positions = []
    for column in dataset.source_columns:
        if column not in header:
            raise MissingColumnError(
                f"{path}, line 1: missing column '{column}' for dataset '{dataset.name}' "
                f"(header has {', '.join(header) or 'nothing'})"
            )
        positions.append(header.index(column))
    return (len(header), *positions)


def _lines_with_fields(
    spark: SparkSession, dataset: Dataset, files: Sequence[LandingFile], layout: tuple[int, ...], ingested_at: str
) -> DataFrame:
    """One row per data line: source_file, line_number (1-based, header = 1), line, raw fields, _ingested_at."""
    width, *positions = layout
    day_of = spark.createDataFrame([(f.uri, f.path, f.day, ingested_at) for f in files],
                                   "uri string, source_file string, _day date, _ingested_at string")
    text = spark.read.text([f.uri for f in files], wholetext=True).select(
        F.input_file_name().alias("uri"), F.posexplode(F.split("value", r"\r?\n")).alias("pos", "line")
    )
    # Two wide projections rather than a withColumn per column: each DataFrame step has the
    # whole plan analysed again.
    cells = (
        text.where((F.col("pos") > 0) & (F.trim("line") != ""))
        .join(F.broadcast(day_of), "uri")
        .select("source_file", "_day", "_ingested_at", (F.col("pos") + 1).cast("long").alias("line_number"), "line",
                F.split("line", ",", -1).alias("_cells"))
    )
    return cells.select(
        "source_file", "_day", "_ingested_at", "line_number", "line", "_cells",
        F.size("_cells").alias("_width"),
        F.lit(width).alias("_expected_width"),
        *[_unquoted(F.trim(F.get(F.col("_cells"), position))).alias(f"_raw_{field.name}")
          for field, position in zip(dataset.fields, positions)],
    )


def _unquoted(cell: Column) -> Column:
    """A cell without its surrounding double quotes (a substring test, much cheaper than a regex per cell)."""
    quoted = cell.startswith('"') & cell.endswith('"') & (F.length(cell) >= 2)
    return F.when(quoted, cell.substr(F.lit(2), F.length(cell) - 2)).otherwise(cell)


def _typed(field: Field) -> Column:
    raw = F.col(f"_raw_{field.name}")
    if field.kind == "timestamp":
        return F.try_to_timestamp(raw, F.lit(TIMESTAMP_FORMAT))
    if field.kind == "int":
        return raw.try_cast("int")
    if field.kind == "double":
        value = raw.try_cast("double")
        return F.when(F.isnan(value) | (F.abs(value) == float("inf")), None).otherwise(value)
    return F.when(raw.isin(*field.categories), raw)


def _field_reason(field: Field) -> Column:
    raw = F.col(f"_raw_{field.name}")
    expected = {"timestamp": f"a timestamp {TIMESTAMP_FORMAT}", "int": "an integer", "double": "a finite number"}
    wanted = expected.get(field.kind, "one of " + "/".join(field.categories))
    return (
        F.when(raw.isNull() | (raw == ""), F.lit(f"{field.source}: empty"))
        .when(F.col(field.name).isNull(), F.concat(F.lit(f"{field.source}: '"), raw, F.lit(f"' is not {wanted}")))
    )


def _apply_rules(
    lines: DataFrame, dataset: Dataset, known_machines: Optional[AbstractSet[int]], before_day: Optional[date]
) -> DataFrame:
    lines = lines.withColumns({field.name: _typed(field) for field in dataset.fields})
    reasons = [
        F.when(
            F.col("_width") != F.col("_expected_width"),
            F.concat(F.lit("line has "), F.col("_width").cast("string"), F.lit(" fields, header has "),
                     F.col("_expected_width").cast("string")),
        )
    ]
    reasons += [_field_reason(f) for f in dataset.fields]
    if known_machines is not None:
        # A set test, not a join with raw_machines: no broadcast job per table and day, and Spark
        # compiles it once for as long as the set of machines stays the same.
        known = F.col("machine_id").isin(sorted(known_machines)) if known_machines else F.lit(False)
        reasons.append(
            F.when(F.col("machine_id").isNotNull() & ~known,
                   F.concat(F.lit("machineID "), F.col("machine_id").cast("string"), F.lit(" is not a known machine")))
        )
    if any(f.name == "datetime" for f in dataset.fields):  # not `lines.columns`: a round trip to analyse the plan
        reasons.append(_time_rule(before_day))
    return lines.withColumn("_reason", _join_reasons(reasons))


def _time_rule(before_day: Optional[date]) -> Column:
    ts = F.col("datetime")
    shown = F.date_format(ts, TIMESTAMP_FORMAT)
    if before_day is not None:
        return F.when(ts >= F.lit(before_day).cast("timestamp"),
                      F.concat(F.lit("datetime "), shown, F.lit(f" is not before the first partition {before_day}")))
    return F.when(F.to_date(ts) != F.col("_day"),
                  F.concat(F.lit("datetime "), shown, F.lit(" is outside partition "), F.col("_day").cast("string")))


def _join_reasons(reasons: list[Column]) -> Column:
    joined = F.concat_ws("; ", F.array_compact(F.array(*reasons)))
    return F.when(joined != "", joined)


def _reject_duplicates(lines: DataFrame, dataset: Dataset) -> DataFrame:
    """Keep the first clean occurrence of a key (by file, line); later ones are rejected naming it.

    Only clean rows compete: a row already rejected for another reason must not shadow a later
    valid row with the same key. Repeated keys are found by a hash aggregate over the key columns
    alone (a window would shuffle and sort whole lines); usually there are none and nothing is joined.
    """
    origin = F.struct(F.col("source_file"), F.col("line_number"))
    repeated = (
        lines.where(F.col("_reason").isNull())
        .groupBy(*dataset.key)
        .agg(F.count(F.lit(1)).alias("_copies"), F.min(origin).alias("_first"))
        .where(F.col("_copies") > 1)
        .drop("_copies")
    )
    if repeated.isEmpty():
        return lines
    marked = lines.join(repeated, list(dataset.key), "left")
    duplicate = F.col("_reason").isNull() & F.col("_first").isNotNull() & (origin != F.col("_first"))
    named = F.concat(F.lit("duplicate key of "), F.col("_first.source_file"), F.lit(":"),
                     F.col("_first.line_number").cast("string"))
    return marked.withColumn("_reason", F.when(duplicate, named).otherwise(F.col("_reason"))).drop("_first")
