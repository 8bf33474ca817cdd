"""Local Delta tables read without a JVM (delta-rs): the days a table holds, values per day, commit versions.

For the orchestrating host (sensors have no Spark) and for the store's own bookkeeping, which would
otherwise cost a Spark query each (on a new day's path, where they add up).

Data files are read with pyarrow.parquet from the file list delta-rs gives, not with
`DeltaTable.to_pyarrow_table`: that scans through a pyarrow dataset over delta-rs' filesystem, and
the process then often aborts at exit ("terminate called without an active exception": C++ threads
left running at interpreter shutdown; delta-io/delta-rs#2184), which would fail a sensor daemon or CLI.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Optional, Sequence

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
    """{day: distinct values of one column} of a table partitioned by day, reading only that column."""
    table = open_table(location)
    if table is None:
        return {}
    found: dict[date, set[str]] = {}
    for day in sorted({p[PARTITION_COLUMN] for p in table.partitions() if p.get(PARTITION_COLUMN)}):
        files = table.file_uris(file_pruning_predicate=[(PARTITION_COLUMN, "=", day)])
        found[date.fromisoformat(day)] = {str(v) for v in _column(files, column)}
    return found


def column_values(location: str, columns: list[str]) -> list[tuple]:
    """The rows of an unpartitioned table, these columns only (small tables: the ledger)."""
    table = open_table(location)
    if table is None:
        return []
    import pyarrow.parquet as pq

    rows: list[tuple] = []
    for path in table.file_uris():
        part = pq.read_table(_local(path), columns=columns)
        rows += list(zip(*(part.column(c).to_pylist() for c in columns)))
    return rows


def _column(files: list[str], column: str) -> set:
    import pyarrow.parquet as pq

    values: set = set()
    for path in files:
        values.update(pq.read_table(_local(path), columns=[column]).column(column).unique().to_pylist())
    return values


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


@dataclass(frozen=True)
class Snapshot:
    """What a plain Parquet reader needs to read one version of a table: its schema (Spark's JSON) and live files."""

    version: int
    schema_json: str
    files: list[str]


def plain_snapshot(location: str, days: Optional[Sequence[date]] = None,
                   version: Optional[int] = None) -> Optional[Snapshot]:
    """The live files of `days` (or all) at `version` (or the latest), when a plain Parquet read of them is
    exactly the table: reader protocol 1 (no deletion vectors, no column mapping). None otherwise."""
    table = open_table(location, version)
    if table is None or table.protocol().min_reader_version != 1:
        return None
    pruning = None if days is None else [(PARTITION_COLUMN, "in", sorted({d.isoformat() for d in days}))]
    files = table.file_uris(file_pruning_predicate=pruning) if pruning else table.file_uris()
    return Snapshot(table.version(), table.schema().to_json(), files)


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
