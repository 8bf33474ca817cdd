"""Failure labels on the scoring grid: which component fails in (t, t + horizon], else "none".

Failures are rare, so instead of a window over every grid row each failure at time f is
expanded to the few grid points it labels (t with f - horizon <= t < f), the earliest failure
per point wins (ties at the same instant: the lowest component name), and the result is
broadcast-joined onto the grid. Summing class ids when two components fail, as the reference
did, invents a class that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Collection, Iterable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.grid import HOUR, Grid, TimeBound, check_cadence, check_positive_hours, ts_literal
from pdm_assets.pipeline.schemas import COMPONENTS, PARTITION_COLUMN

NO_FAILURE = "none"
LABEL_CLASSES = (NO_FAILURE, *COMPONENTS)


@dataclass(frozen=True)
class LabelParams:
    """Grid cadence (must match the features') and label horizon, in whole hours."""

    cadence_hours: int = 3
    horizon_hours: int = 24

    def __post_init__(self) -> None:
        check_cadence(self.cadence_hours)
        check_positive_hours(self.horizon_hours, "horizon_hours")


def build_labels(
    failures: DataFrame,
    machines: DataFrame,
    start: TimeBound,
    end: TimeBound,
    params: LabelParams = LabelParams(),
) -> DataFrame:
    """machine_id, timestamp, date, label for every machine and grid point in [start, end).

    Needs the failures in (start, end + horizon]: a label is final once that lookahead is loaded.
    """
    grid = Grid(start, end, params.cadence_hours)
    step, horizon = params.cadence_hours * HOUR, params.horizon_hours * HOUR
    points = grid.points(machines)
    if grid.count == 0:
        return points.withColumn("label", F.lit(NO_FAILURE))
    hi = grid.last + timedelta(hours=params.horizon_hours)

    cond = (F.col("datetime") > ts_literal(grid.first)) & (F.col("datetime") <= ts_literal(hi))
    if PARTITION_COLUMN in failures.columns:
        cond &= F.col(PARTITION_COLUMN).between(F.lit(grid.first.date()), F.lit(hi.date()))
    secs = F.unix_seconds(F.col("datetime")) - grid.anchor_seconds
    first_k = grid.first_index
    last_k = first_k + grid.count - 1
    hits = (
        failures.where(cond)
        .select(
            "machine_id",
            "datetime",
            "failure",
            # grid indices k with f - horizon <= t_k < f
            F.greatest(F.ceil((secs - F.lit(horizon)) / F.lit(step)), F.lit(first_k)).alias("k_lo"),
            F.least(F.ceil(secs / F.lit(step)) - 1, F.lit(last_k)).alias("k_hi"),
        )
        .where(F.col("k_lo") <= F.col("k_hi"))  # sequence() would count down otherwise
        .select("machine_id", "datetime", "failure",
                F.explode(F.sequence("k_lo", "k_hi")).alias("k"))
        .groupBy("machine_id", "k")
        .agg(F.min(F.struct("datetime", "failure"))["failure"].alias("label"))
        .select("machine_id", grid.instant(F.col("k"), params.cadence_hours).alias("timestamp"), "label")
    )
    return (
        points.join(F.broadcast(hits), ["machine_id", "timestamp"], "left")
        .select("machine_id", "timestamp", PARTITION_COLUMN,
                F.coalesce(F.col("label"), F.lit(NO_FAILURE)).alias("label"))
    )


FINAL = "final"


def complete_through(days: Iterable[date], arrived: Collection[date], lookahead_days: int) -> dict[date, date]:
    """{day: the last day L such that day..L have all arrived} (day - 1 when the day itself has not)."""
    through = {}
    for day in days:
        last = day - timedelta(days=1)
        while last + timedelta(days=1) in arrived and last < day + timedelta(days=lookahead_days):
            last += timedelta(days=1)
        through[day] = last
    return through


def mark_final(labels: DataFrame, arrived: Collection[date], days: Sequence[date], horizon_hours: int) -> DataFrame:
    """Labels with a `final` column: every day the row's horizon reaches has had its failures ingested.

    A row at t labels failures in (t, t + horizon]; until each of those days has arrived, a failure
    may still appear, so the row's `none` is not yet the truth (and must not train or judge a model).
    """
    lookahead = max(1, -(-horizon_hours // 24))
    through = complete_through(days, set(arrived), lookahead)
    spark = labels.sparkSession
    known = spark.createDataFrame([(d, t) for d, t in through.items()], f"{PARTITION_COLUMN} date, _through date")
    horizon_end = F.to_date(F.col("timestamp") + F.make_interval(hours=F.lit(horizon_hours)))
    return labels.join(F.broadcast(known), PARTITION_COLUMN, "left").select(
        "machine_id", "timestamp", PARTITION_COLUMN, "label",
        F.coalesce(horizon_end <= F.col("_through"), F.lit(False)).alias(FINAL))
