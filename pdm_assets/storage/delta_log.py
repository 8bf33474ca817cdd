"""Local Delta tables read without a JVM (delta-rs): the days a table holds, values per day, commit versions.

For the orchestrating host (sensors have no Spark) and for the store's own bookkeeping, which would
otherwise cost a Spark query each (a few hundred ms on a new day's path).
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Optional

from deltalake import DeltaTable, write_deltalake

from pdm_assets.pipeline.schemas import PARTITION_COLUMN


def open_table(location: str, version: Optional[int] = None) -> Optional[DeltaTable]:
    """The Delta table at `location` (its latest version, or `version`), or None if none was created there."""
    if not (Path(location) / "_delta_log").is_dir():
        return None
    return DeltaTable(location, version=version)


def days_with_rows(location: str) -> set[date]:
    """The `date` partition values of the table's live files (from the log alone: no data file is read)."""
    table = open_table(location)
    if table is None:
        return set()
    return {date.fromisoformat(p[PARTITION_COLUMN]) for p in table.partitions() if p.get(PARTITION_COLUMN)}


def values_by_day(location: str, column: str) -> dict[date, set[str]]:
    """{day: distinct values of one column}, reading only the two columns."""
    table = open_table(location)
    if table is None:
        return {}
    rows = table.to_pyarrow_table(columns=[PARTITION_COLUMN, column])
    found: dict[date, set[str]] = {}
    for day, value in zip(rows.column(PARTITION_COLUMN).to_pylist(), rows.column(column).to_pylist()):
        found.setdefault(day, set()).add(str(value))
    return found


def current_version(location: str) -> Optional[int]:
    """The table's latest committed version, or None if there is no table."""
    table = open_table(location)
    return None if table is None else table.version()


def version_of_write(location: str, write_id: str, search: int = 50) -> Optional[int]:
    """The version whose commit carries `write_id` in its user metadata (robust to concurrent writers)."""
    table = open_table(location)
    if table is None:
        return None
    for commit in table.history(search):
        if _write_id(commit.get("userMetadata")) == write_id:
            return int(commit["version"])
    return None


def _write_id(user_metadata: Optional[str]) -> Optional[str]:
    try:
        return json.loads(user_metadata or "{}").get("write_id")
    except (ValueError, AttributeError):
        return None


def append(location: str, rows) -> None:
    """Append a pyarrow table to a Delta table (created on the first append)."""
    write_deltalake(location, rows, mode="append")
