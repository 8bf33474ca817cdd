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
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, CommitProperties, PostCommitHookProperties

from pdm_assets.pipeline.schemas import PARTITION_COLUMN
from pdm_assets.storage import delta_log

STAGING = "_pdm_staging"  # a leading underscore: Delta readers leave such folders alone
# Staging folders this old belong to writes that were killed (a write stages for minutes at most).
STALE_STAGING_SECONDS = 2 * 24 * 3600
# Spark's Delta writer checkpoints the log every 10 commits (delta-rs every 100): kept at Spark's
# pace, so readers of a table written day after day replay at most ten JSON commits.
CHECKPOINT_EVERY = 10
log = logging.getLogger(__name__)


class CommitConflict(RuntimeError):
    """Other writers committed to the table before every attempt of this commit."""


class TableChangedError(RuntimeError):
    """The table's schema, settings or protocol changed while this write's files were being written."""


@dataclass(frozen=True)
class TableShape:
    """What the day files were checked against: a commit goes ahead only while the table still has it."""

    metadata_id: str
    schema_json: str
    configuration: tuple
    protocol: tuple


@dataclass(frozen=True)
class StagedFile:
    """One Parquet file Spark wrote for a day, before it is moved into the table."""

    day: str  # the partition value as Spark wrote it in the folder name
    path: Path


def plain_shape(location: str) -> Optional[TableShape]:
    """The table's shape if delta-rs may commit to it exactly as Spark's Delta writer would, else None.

    Only the plain tables the store creates: reader 1 / writer 2 without table features,
    partitioned by a `date` column of type date, every column nullable and no constraints
    (Spark's writer enforces those while it writes; a plain Parquet write would not).
    """
    if not (Path(location) / "_delta_log").is_dir():
        return None
    table = DeltaTable(location)
    shape = _shape(table)
    if shape.protocol != (1, 2, (), ()) or table.metadata().partition_columns != [PARTITION_COLUMN] \
            or any(key.startswith("delta.constraints.") for key, _ in shape.configuration):
        return None
    fields = json.loads(shape.schema_json)["fields"]
    if not all(f["nullable"] and "delta.invariants" not in f.get("metadata", {}) for f in fields):
        return None
    return shape if any(f["name"] == PARTITION_COLUMN and f["type"] == "date" for f in fields) else None


def _shape(table: DeltaTable) -> TableShape:
    metadata, protocol = table.metadata(), table.protocol()
    return TableShape(metadata.id, table.schema().to_json(), tuple(sorted(metadata.configuration.items())),
                      (protocol.min_reader_version, protocol.min_writer_version,
                       tuple(protocol.reader_features or ()), tuple(protocol.writer_features or ())))


def staging_folder(location: str, write_id: str) -> Path:
    """Where Spark writes this write's day files (inside the table folder, so moving them is a rename)."""
    return Path(location) / STAGING / write_id


def staged_files(staging: Path) -> list[StagedFile]:
    """The Parquet files Spark wrote under `staging`, with their day (none when the rows were empty)."""
    prefix = f"{PARTITION_COLUMN}="
    return [StagedFile(folder.name.removeprefix(prefix), path)
            for folder in sorted(staging.glob(f"{prefix}*")) for path in sorted(folder.glob("*.parquet"))]


@dataclass(frozen=True)
class DayWrite:
    """One write's days (as `YYYY-MM-DD`), its id and commit metadata, and the table shape its files were checked against."""

    write_id: str
    days: Sequence[str]
    user_metadata: str
    shape: TableShape


def commit_days(location: str, files: Sequence[StagedFile], write: DayWrite, attempts: int,
                on_conflict: Callable[[int], None]) -> int:
    """Move `files` into the table and replace exactly `write.days` with them in one commit; the version committed.

    If the table's shape changed since `write.shape`, nothing is committed (TableChangedError).
    `on_conflict(attempt)` is called each time another writer committed first (it may log and wait).
    """
    moved: list[Path] = []
    try:
        actions = _move_into_table(location, files, moved)
        committed = _commit(location, actions, write, attempts, on_conflict)
    except BaseException:
        if _never_landed(location, write.write_id):
            for path in moved:  # files of a commit that never happened: nothing refers to them
                path.unlink(missing_ok=True)
        raise
    _checkpoint(location, committed)
    return committed


def _move_into_table(location: str, files: Sequence[StagedFile], moved: list[Path]) -> list[AddAction]:
    """Rename each staged file into its day's folder (appending it to `moved`); the add actions for them."""
    import pyarrow.parquet as pq

    actions = []
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
    return actions


def _commit(location: str, actions: list[AddAction], write: DayWrite, attempts: int,
            on_conflict: Callable[[int], None]) -> int:
    """Commit on top of the version just read, again on the next one while other writers come first."""
    for attempt in range(1, attempts + 1):
        table = DeltaTable(location)
        read_version = table.version()
        if _shape(table) != write.shape:
            raise TableChangedError(f"version {read_version} changed the table's schema, settings or protocol")
        try:
            table.create_write_transaction(
                actions, "overwrite", table.schema(), [PARTITION_COLUMN],
                [(PARTITION_COLUMN, "in", list(write.days))],
                commit_properties=CommitProperties(custom_metadata={"userMetadata": write.user_metadata},
                                                   max_commit_retries=0),
                # checkpoints are made after the commit is known to have landed
                post_commithook_properties=PostCommitHookProperties(create_checkpoint=False,
                                                                    cleanup_expired_logs=False),
            )
            return read_version + 1
        except CommitFailedError:
            if DeltaTable(location).version() == read_version:
                raise  # not a concurrent commit: nothing to retry
            if attempt == attempts:
                raise CommitConflict(f"{attempts} attempts") from None
            on_conflict(attempt)
        except Exception:
            landed = _landed_version(location, write.write_id)
            if landed is None:
                raise
            return landed  # it failed after writing the commit, which is in force: the write is done
    raise CommitConflict(f"{attempts} attempts")  # only reached with attempts < 1


def _landed_version(location: str, write_id: str) -> Optional[int]:
    """The version this write's commit landed at; None when it did not, or when the log cannot tell."""
    try:
        return delta_log.version_of_write(location, write_id)
    except Exception:  # noqa: BLE001 - an unreadable log proves nothing landed: the caller's error stands
        return None


def _never_landed(location: str, write_id: str) -> bool:
    """True only when the log can be read and holds no commit of this write, so its files may be deleted."""
    try:
        return delta_log.version_of_write(location, write_id) is None
    except Exception:  # noqa: BLE001 - the log cannot be read: keep the files (unreferenced files are harmless)
        return False


def _checkpoint(location: str, version: int) -> None:
    """A checkpoint every CHECKPOINT_EVERY versions, as Spark's writer makes them; a failed one is only logged."""
    if version <= 0 or version % CHECKPOINT_EVERY:
        return
    try:
        DeltaTable(location, version=version).create_checkpoint()
    except Exception as err:  # readers replay the JSON commits instead
        log.warning(f"{location}: no checkpoint at version {version}: {err}")


def sweep_stale_staging(location: str, now: Optional[float] = None) -> None:
    """Remove staging folders that killed writes left behind (VACUUM skips folders named with '_')."""
    root = Path(location) / STAGING
    if not root.is_dir():
        return
    cutoff = (now if now is not None else time.time()) - STALE_STAGING_SECONDS
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass  # another write removed it


def remove_staging(staging: Path) -> None:
    """Drop this write's staging folder (the parent stays: another write may be staging beside it)."""
    shutil.rmtree(staging, ignore_errors=True)
