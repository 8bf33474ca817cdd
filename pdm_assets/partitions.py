"""The one daily partitions definition, built from the configured timeline, and the project's clock."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Optional

from dagster import DailyPartitionsDefinition, TimeWindow

DEFAULT_START = date(2015, 1, 1)
# Exclusive end of the published year: 365 partitions, 2015-01-01 .. 2015-12-31.
DEFAULT_END: Optional[date] = date(2016, 1, 1)
PARTITION_FORMAT = "%Y-%m-%d"
# Run tags that make one run cover a range of partitions (the single-run backfill policy).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: date, last: date) -> dict[str, str]:
    """Tags for one run over the partitions first..last (inclusive)."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def daily_partitions(start: date = DEFAULT_START, end: Optional[date] = DEFAULT_END) -> DailyPartitionsDefinition:
    """Daily UTC partitions from `start`; up to `end` (exclusive) or, if None, up to yesterday."""
    return DailyPartitionsDefinition(
        start_date=start.strftime(PARTITION_FORMAT),
        end_date=end.strftime(PARTITION_FORMAT) if end else None,
        timezone="UTC",
        fmt=PARTITION_FORMAT,
    )


def days_in_window(window: TimeWindow) -> list[date]:
    """The calendar days a time window covers, in order."""
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + timedelta(days=i) for i in range(count)]


def utc_now() -> datetime:
    """Now in UTC, naive and to the second: how ingestion and scoring stamp the rows they write."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
