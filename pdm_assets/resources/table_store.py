"""Partitioned Parquet tables under a warehouse folder, replaced one day at a time, atomically.

Layout: `<warehouse>/<table>/date=YYYY-MM-DD/part-*.parquet` (readable by any Parquet reader with
partition discovery; hidden folders `.staging`, `.trash`, `.txn` are ignored by Spark).

A write goes to a private staging folder first (the long, killable Spark job). Only then, under a
per-table lock, each replaced day folder is swapped: old → trash, staged → live. A journal written
before the first swap and removed after the last lets the next reader or writer roll back a swap
phase cut short by a kill, so the previous version of every day stays readable.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DateType, StructType

from pdm_assets.pipeline.schemas import PARTITION_COLUMN

STALE_STAGING_SECONDS = 24 * 3600
SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"
# Many tiny day files (a year of maintenance records is 365 files of 2 KB) cost Spark about
# 3-5 ms each to list and open, seconds in all; read here with Arrow they take a fraction of a
# second and reach Spark as one in-memory relation. That relation travels inside every task of
# every job that reads it, so only tiny tables take this path: 90 days of features (120 KB a
# day) read this way made a 90-day scoring run twice as slow.
MANY_FILES = 64
TINY_FILE_BYTES = 16 * 1024  # on average


class TableNotFoundError(LookupError):
    """A table was read before it was ever written."""


def _day_dir(day: date) -> str:
    return f"{PARTITION_COLUMN}={day.isoformat()}"


class ParquetTableStore:
    """Reads and writes date-partitioned (or whole) Parquet tables with per-day atomic replacement."""

    readable_here = True  # plain files: sensors read them on the orchestrating host, without Spark

    def __init__(self, warehouse: str | os.PathLike[str]):
        self.warehouse = Path(warehouse)

    def path(self, table: str) -> Path:
        return self.warehouse / table

    # ----------------------------------------------------------------- reading
    def schema(self, table: str) -> StructType:
        schema_file = self.path(table) / "_schema.json"
        if not schema_file.exists():
            raise TableNotFoundError(
                f"Table '{table}' has not been written yet (no {schema_file}); materialize it first."
            )
        return StructType.fromJson(json.loads(schema_file.read_text()))

    def existing_days(self, table: str) -> list[date]:
        """Days that currently have a live partition folder."""
        self._recover(table)
        root = self.path(table)
        if not root.exists():
            return []
        prefix = f"{PARTITION_COLUMN}="
        return sorted(date.fromisoformat(p.name[len(prefix):]) for p in root.iterdir() if p.name.startswith(prefix))

    def stored_schema(self, spark: SparkSession, table: str, days: Optional[Sequence[date]]) -> Optional[StructType]:
        """The schema the Parquet files themselves carry (not our own record of it), as Spark reads it."""
        import pyarrow.parquet as pq

        root = self.path(table)
        candidates = [root / _day_dir(d) for d in days] if days is not None else [root / "data"]
        with_files = [p for p in candidates if p.exists() and any(p.glob("*.parquet"))]
        if not with_files:
            return None
        # Spark writes its schema into each footer and reads it back from there; taking it from
        # the footer here spares a Spark job per check. Files written by other tools lack it.
        declared = pq.read_schema(sorted(with_files[0].glob("*.parquet"))[0]).metadata or {}
        if SPARK_SCHEMA_KEY not in declared:
            return spark.read.option("basePath", str(root)).parquet(str(with_files[0])).schema
        schema = StructType.fromJson(json.loads(declared[SPARK_SCHEMA_KEY]))
        if with_files[0].name.startswith(f"{PARTITION_COLUMN}="):  # the folder name, as Spark infers it
            schema = schema.add(PARTITION_COLUMN, DateType())
        return schema

    def distinct_values_by_day(self, table: str, column: str) -> dict[date, set[str]]:
        """{day: distinct values of one column} read from the Parquet files directly (no Spark: for sensors)."""
        import pyarrow.parquet as pq

        values: dict[date, set[str]] = {}
        root = self.path(table)
        for day in self.existing_days(table):
            found: set[str] = set()
            for part in sorted((root / _day_dir(day)).glob("*.parquet")):
                found.update(str(v) for v in pq.read_table(part, columns=[column]).column(column).unique().to_pylist())
            values[day] = found
        return values

    def read(self, spark: SparkSession, table: str, days: Optional[Sequence[date]] = None) -> DataFrame:
        """Read the given days (only those folders), or the whole table when `days` is None."""
        self._recover(table)
        schema = self.schema(table)
        root = self.path(table)
        if days is None:
            # Whole tables live in data/ (they may still carry a date column, e.g. a training set).
            if (root / "data").exists():
                paths = [str(root / "data")]
            else:
                paths = [str(root / _day_dir(d)) for d in self.existing_days(table)]
        else:
            paths = [str(root / _day_dir(d)) for d in days if (root / _day_dir(d)).exists()]
        if not paths:
            return spark.createDataFrame([], schema)
        files = [f for p in paths for f in Path(p).glob("*.parquet")]
        if len(files) >= MANY_FILES and sum(f.stat().st_size for f in files) <= TINY_FILE_BYTES * len(files):
            return _read_here(spark, schema, root, files)
        return spark.read.schema(schema).option("basePath", str(root)).parquet(*paths)

    # ----------------------------------------------------------------- writing
    def write(self, df: DataFrame, table: str, days: Optional[Sequence[date]] = None) -> None:
        """Replace exactly `days` of a partitioned table (or the whole table when `days` is None)."""
        self._replace(table, df.schema, days, df)

    def write_empty_days(self, table: str, schema: StructType, days: Sequence[date]) -> None:
        """Replace `days` with no rows, without a Spark job (e.g. a day whose delivery had no rejects)."""
        if PARTITION_COLUMN not in schema.fieldNames():
            raise ValueError(f"write_empty_days needs a partitioned schema (a '{PARTITION_COLUMN}' column)")
        self._replace(table, schema, days, None)

    def _replace(self, table: str, schema: StructType, days: Optional[Sequence[date]], df: Optional[DataFrame]) -> None:
        root = self.path(table)
        root.mkdir(parents=True, exist_ok=True)
        staging = root / ".staging" / uuid.uuid4().hex
        try:
            if days is None:
                df.write.mode("overwrite").parquet(str(staging / "data"))
                units = ["data"]
            else:
                if df is None:
                    for day in days:
                        (staging / _day_dir(day)).mkdir(parents=True)
                else:
                    self._write_days_to_staging(df, schema, staging, days)
                units = [_day_dir(d) for d in days]
            with self._locked(table):
                self._recover_locked(table)
                # The schema goes first: a crash after the swap must not leave data without it.
                _atomic_write(root / "_schema.json", schema.json())
                try:
                    self._swap_in(root, staging, units)
                except BaseException:
                    self._recover_locked(table)  # put back every day this swap had already moved
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write_days_to_staging(self, df: DataFrame, schema: StructType, staging: Path, days: Sequence[date]) -> None:
        # The schema is passed in: over Spark Connect each `df.columns` is a round trip to analyse the plan.
        if PARTITION_COLUMN not in schema.fieldNames():
            raise ValueError(f"A partitioned write needs a '{PARTITION_COLUMN}' column; got {schema.fieldNames()}")
        # Cluster rows by day first: one file per day and task instead of a file per day per input
        # split. A single day needs no shuffle for that (a new day's write is one job, not two).
        clustered = df.repartition(PARTITION_COLUMN) if len(days) > 1 else df
        clustered.write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(str(staging))
        wanted = {_day_dir(d) for d in days}
        written = {p.name for p in staging.iterdir() if p.name.startswith(f"{PARTITION_COLUMN}=")}
        stray = sorted(written - wanted)
        if stray:
            raise ValueError(f"Rows outside the partitions being written ({sorted(wanted)[:3]}...): {stray[:5]}")
        for unit in wanted - written:  # a day with no rows still replaces the old day
            (staging / unit).mkdir(parents=True)

    def _swap_in(self, root: Path, staging: Path, units: Sequence[str]) -> None:
        txn_id = staging.name
        trash = root / ".trash" / txn_id
        journal = root / ".txn" / f"{txn_id}.json"
        journal.parent.mkdir(exist_ok=True)
        trash.mkdir(parents=True, exist_ok=True)
        replaced = [u for u in units if (root / u).exists()]
        _atomic_write(journal, json.dumps({"units": list(units), "replaced": replaced, "staging": str(staging)}))
        for position, unit in enumerate(units):
            if (root / unit).exists():
                os.rename(root / unit, trash / unit)
            _crash_point("between_renames")
            os.rename(staging / unit, root / unit)
            if position == 0:
                _crash_point("after_first_swap")
        journal.unlink()  # the commit point: from here on the new version is the live one
        _fsync_dir(journal.parent)
        shutil.rmtree(trash, ignore_errors=True)

    # ----------------------------------------------------------------- recovery
    def _recover(self, table: str) -> None:
        txn_dir = self.path(table) / ".txn"
        if txn_dir.exists() and any(txn_dir.iterdir()):
            with self._locked(table):
                self._recover_locked(table)

    def _recover_locked(self, table: str) -> None:
        """Roll back swap phases cut short; a journal seen under the lock belongs to a dead writer."""
        root = self.path(table)
        for journal in sorted((root / ".txn").glob("*.json")) if (root / ".txn").exists() else []:
            txn = json.loads(journal.read_text())
            trash = root / ".trash" / journal.stem
            for unit in txn["units"]:
                if (trash / unit).exists():
                    shutil.rmtree(root / unit, ignore_errors=True)
                    os.rename(trash / unit, root / unit)
                elif unit not in txn["replaced"] and not (Path(txn["staging"]) / unit).exists():
                    shutil.rmtree(root / unit, ignore_errors=True)  # new day whose swap was not committed
            journal.unlink()
            shutil.rmtree(trash, ignore_errors=True)
        # Trash without a journal is from a swap that committed and died before cleaning up.
        trash_root = root / ".trash"
        if trash_root.exists():
            for orphan in trash_root.iterdir():
                if not (root / ".txn" / f"{orphan.name}.json").exists():
                    shutil.rmtree(orphan, ignore_errors=True)
        self._remove_stale_staging(root)

    @staticmethod
    def _remove_stale_staging(root: Path) -> None:
        staging_root = root / ".staging"
        if not staging_root.exists():
            return
        for folder in staging_root.iterdir():
            if time.time() - folder.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def _locked(self, table: str) -> Iterator[None]:
        root = self.path(table)
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "a+") as handle:  # flock is released by the OS if we die
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _read_here(spark: SparkSession, schema: StructType, root: Path, files: Sequence[Path]) -> DataFrame:
    """Small Parquet files read with Arrow on this machine, as a Spark frame with the table's schema."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioned = PARTITION_COLUMN in schema.fieldNames()
    table = ds.dataset([str(f) for f in files], format="parquet", partition_base_dir=str(root),
                       partitioning=ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.date32())]), flavor="hive")
                       if partitioned else None).to_table(columns=schema.fieldNames())
    # Spark stores instants as INT96, which Arrow reads without a zone: they are UTC.
    table = pa.table({name: table[name].cast(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(table[name].type)
                      else table[name] for name in table.column_names})
    return spark.createDataFrame(table, schema=schema)


def _atomic_write(path: Path, text: str) -> None:
    """Write a small file so readers see the old or the new content, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _crash_point(name: str) -> None:
    """Let a test kill the process at a named point of the swap (PDM_TEST_CRASH_AT=<name>)."""
    if os.environ.get("PDM_TEST_CRASH_AT") == name:
        os._exit(137)
