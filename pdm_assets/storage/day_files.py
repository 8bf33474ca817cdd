"""Day files written by Spark as plain Parquet, committed to a local Delta table by delta-rs.

Spark's Delta writer pays several Spark jobs per commit (it rebuilds the previous version's file
list and figures, then selects the files a `replaceWhere` removes); on a new day's path, where a
run commits a handful of one-day writes, those jobs are most of the write. For a local table the
same commit is a few milliseconds of delta-rs: Spark writes the day files into a staging folder
inside the table, they are moved into the table's `date=` folders, and one delta-rs transaction
removes the replaced days' files and adds the new ones.

Isolation is stricter than Delta's default: a transaction commits only on top of the exact version
its removes were computed from (no automatic rebase). When another writer committed first, the
removes are computed again from the new version and the same files are committed: the days then
hold exactly this write's rows, as after Spark's retried `replaceWhere`. delta-rs' own conflict
check would let two writers of a day that had no files both add theirs (found by a test: the day's
rows twice), so it is not relied on.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, CommitProperties

from pdm_assets.pipeline.schemas import PARTITION_COLUMN

STAGING = "_pdm_staging"  # a leading underscore: Delta readers and VACUUM leave such folders alone


class CommitConflict(RuntimeError):
    """Other writers committed to the table before every attempt of this commit."""


@dataclass(frozen=True)
class StagedFile:
    """One Parquet file Spark wrote for a day, before it is moved into the table."""

    day: str  # the partition value as Spark wrote it in the folder name
    path: Path


def committable(location: str) -> bool:
    """Whether delta-rs may commit to this table exactly as Spark's Delta writer would.

    Only the plain tables the store creates: reader 1 / writer 2 without table features,
    partitioned by day, every column nullable and no constraints (Spark's writer enforces those
    while it writes; a plain Parquet write would not).
    """
    if not (Path(location) / "_delta_log").is_dir():
        return False
    table = DeltaTable(location)
    protocol = table.protocol()
    if (protocol.min_reader_version, protocol.min_writer_version) != (1, 2) \
            or protocol.reader_features or protocol.writer_features:
        return False
    metadata = table.metadata()
    if metadata.partition_columns != [PARTITION_COLUMN] \
            or any(key.startswith("delta.constraints.") for key in metadata.configuration):
        return False
    fields = json.loads(table.schema().to_json())["fields"]
    return all(f["nullable"] and "delta.invariants" not in f.get("metadata", {}) for f in fields)


def staging_folder(location: str, write_id: str) -> Path:
    """Where Spark writes this write's day files (inside the table folder, so moving them is a rename)."""
    return Path(location) / STAGING / write_id


def staged_files(staging: Path) -> list[StagedFile]:
    """The Parquet files Spark wrote under `staging`, with their day (none when the rows were empty)."""
    prefix = f"{PARTITION_COLUMN}="
    return [StagedFile(folder.name.removeprefix(prefix), path)
            for folder in sorted(staging.glob(f"{prefix}*")) for path in sorted(folder.glob("*.parquet"))]


def commit_days(location: str, files: Sequence[StagedFile], days: Sequence[str], user_metadata: str,
                attempts: int, on_conflict: Callable[[int], None]) -> int:
    """Move `files` into the table and replace exactly `days` with them in one commit; the version committed.

    `on_conflict(attempt)` is called each time another writer committed first (it may log and wait).
    """
    import pyarrow.parquet as pq

    actions, moved = [], []
    try:
        for staged in files:
            target = Path(location) / f"{PARTITION_COLUMN}={staged.day}" / staged.path.name
            target.parent.mkdir(exist_ok=True)
            staged.path.rename(target)
            moved.append(target)
            stat = target.stat()
            actions.append(AddAction(
                path=f"{PARTITION_COLUMN}={staged.day}/{target.name}", size=stat.st_size,
                partition_values={PARTITION_COLUMN: staged.day}, modification_time=int(stat.st_mtime * 1000),
                data_change=True, stats=json.dumps({"numRecords": pq.read_metadata(target).num_rows}),
            ))
        for attempt in range(1, attempts + 1):
            table = DeltaTable(location)
            read_version = table.version()
            try:
                table.create_write_transaction(
                    actions, "overwrite", table.schema(), [PARTITION_COLUMN],
                    [(PARTITION_COLUMN, "in", list(days))],
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": user_metadata},
                                                       max_commit_retries=0),
                )
                moved = []  # the table owns them now
                return read_version + 1
            except CommitFailedError:
                if DeltaTable(location).version() == read_version:
                    raise  # not a concurrent commit: nothing to retry
                if attempt == attempts:
                    raise CommitConflict(f"{attempts} attempts") from None
                on_conflict(attempt)
        raise AssertionError("unreachable")
    finally:
        for path in moved:  # files of a commit that never happened: nothing refers to them
            path.unlink(missing_ok=True)


def remove_staging(staging: Path) -> None:
    """Drop the staging folder (and the staging parent once no other write uses it)."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.parent.rmdir()
    except OSError:
        pass  # another write is staging beside this one
