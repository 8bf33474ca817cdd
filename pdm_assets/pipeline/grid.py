"""The scoring grid shared by features and labels: one row per machine every `cadence` hours.

Grid points are aligned on multiples of the cadence from midnight, so a range of days yields
exactly the union of its single days. Timestamps are naive wall-clock in the session time zone
(UTC in every deployment); we build them from literal strings with `to_timestamp`, the same way
ingestion parses the landing files, rather than from Python datetimes (which PySpark converts
through the *Python process'* local zone).
"""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Union

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.schemas import PARTITION_COLUMN

TimeBound = Union[date, datetime]
HOUR = 3600


def check_cadence(cadence_hours: int, name: str = "cadence_hours") -> None:
    """A cadence must divide the day, otherwise grid points would drift from midnight across days."""
    if not isinstance(cadence_hours, int) or isinstance(cadence_hours, bool) or cadence_hours <= 0:
        raise ValueError(f"{name} must be a positive integer, got {cadence_hours!r}")
    if 24 % cadence_hours:
        raise ValueError(f"{name} must divide 24 so the grid is aligned on midnight, got {cadence_hours}")


def check_positive_hours(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer number of hours, got {value!r}")


def to_naive_utc(bound: TimeBound) -> datetime:
    """A date means its midnight; an aware datetime (e.g. a Dagster time window) is converted to UTC."""
    if isinstance(bound, datetime):
        if bound.tzinfo is not None:
            bound = bound.astimezone(timezone.utc).replace(tzinfo=None)
        return datetime(bound.year, bound.month, bound.day, bound.hour, bound.minute,
                        bound.second, bound.microsecond)
    if isinstance(bound, date):
        return datetime.combine(bound, time())
    raise TypeError(f"expected a date or datetime, got {type(bound).__name__}")


def ts_text(value: datetime) -> str:
    """`value` as `yyyy-MM-dd HH:mm:ss` text (whole seconds), for Spark to parse in the session time zone."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def ts_literal(value: datetime) -> Column:
    """A timestamp literal interpreted in the session time zone (like the ingested timestamps)."""
    return F.to_timestamp(F.lit(ts_text(value)), "yyyy-MM-dd HH:mm:ss")


class Grid:
    """Grid points t with start <= t < end, t on multiples of `cadence_hours` after midnight.

    `anchor` is the midnight on or before `start`; block and grid indices count `step`-hour steps
    from it, so index k stands for the instant anchor + k * step hours.
    """

    def __init__(self, start: TimeBound, end: TimeBound, cadence_hours: int):
        check_cadence(cadence_hours)
        self.start, self.end = to_naive_utc(start), to_naive_utc(end)
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        self.cadence_hours = cadence_hours
        self.anchor = datetime.combine(self.start.date(), time())
        offset_h = (self.start - self.anchor) / timedelta(hours=1)
        self.first_index = math.ceil(offset_h / cadence_hours)  # in cadence steps from anchor
        span_h = (self.end - self.anchor) / timedelta(hours=1)
        self.count = max(0, math.ceil(span_h / cadence_hours) - self.first_index)
        self.first = self.anchor + timedelta(hours=self.first_index * cadence_hours)
        self.last = self.first + timedelta(hours=(self.count - 1) * cadence_hours) if self.count else None

    @property
    def anchor_seconds(self) -> Column:
        return F.unix_seconds(ts_literal(self.anchor))

    def instant(self, index: Column, step_hours: int) -> Column:
        """The timestamp closing block `index` of `step_hours` hours."""
        return F.timestamp_seconds(self.anchor_seconds + index * F.lit(step_hours * HOUR))

    def epoch_seconds(self) -> list[int]:
        """The grid points as seconds since the Unix epoch (naive UTC), e.g. to pass them as data."""
        first = int((self.first - datetime(1970, 1, 1)).total_seconds())
        return [first + i * self.cadence_hours * HOUR for i in range(self.count)]

    def points(self, machines: DataFrame, *carry: str) -> DataFrame:
        """machine_id, timestamp, date (+ `carry` machine columns) per machine and grid point.

        `machines` is keyed by machine_id (ingestion rejects duplicate keys), so no distinct().
        """
        steps = machines.sparkSession.range(self.count).select(
            self.instant(F.col("id") + F.lit(self.first_index), self.cadence_hours).alias("timestamp")
        )
        # The steps drive the parallelism (machines is a tiny table, often a single partition)
        # and each task then holds contiguous days, which suits date-partitioned writes.
        return steps.crossJoin(F.broadcast(machines.select("machine_id", *carry))).select(
            "machine_id", "timestamp", F.to_date("timestamp").alias(PARTITION_COLUMN), *carry
        )
