"""Delta Lake tables replaced a day at a time: the one table store of every deployment (DESIGN §4).

A partitioned write replaces exactly its days in one commit, a whole table is overwritten in one
commit. Local tables take a partitioned write as Parquet day files from Spark committed by delta-rs
(`day_files`: no Delta job in Spark); Unity Catalog tables as a `replaceWhere` on `date`. Either way
rows of other days are refused. A column that disappears, changes type or is added in a
partitioned table is refused before anything is written. Every query reads one committed
version (Delta's snapshot isolation), and each write reports the version it committed: its commit
carries the write's id, so the version is found even while other writers commit.

Days without rows leave no file in a Delta table, yet "day D was ingested and had no failures" differs
from "day D was never ingested". Such days go into a small ledger table (`days_without_rows`), written
after the data commit: a write killed in between looks like a day not yet written, never the reverse.
"""
from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from pdm_assets.pipeline.schemas import PARTITION_COLUMN
from pdm_assets.storage import day_files, delta_log
from pdm_assets.storage.base import Commit
from pdm_assets.storage.catalogs import LOCAL_SCHEMA, LocalCatalog, TableCatalog
from pdm_assets.storage.errors import (
    ConcurrentWriteError,
    RowsOutsideDaysError,
    SchemaMismatchError,
    TableNotFoundError,
)

LEDGER = "days_without_rows"
LEDGER_SCHEMA = StructType([
    StructField("table_name", StringType()), StructField(PARTITION_COLUMN, DateType()),
    StructField("table_version", LongType()), StructField("recorded_at", TimestampType()),
])
# Delta's names for "another transaction committed something this one depended on"; the write is
# idempotent (it replaces days), so it is tried again from the start.
CONFLICTS = ("DELTA_CONCURRENT", "ConcurrentAppendException", "ConcurrentDeleteReadException",
             "ConcurrentDeleteDeleteException", "ConcurrentTransactionException", "MetadataChangedException",
             "ProtocolChangedException", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")
OUTSIDE_DAYS = ("DELTA_REPLACE_WHERE_MISMATCH",)
# Delta reports any invariant violated under a replaceWhere as a mismatch. Its own day condition is
# checked as an unnamed constraint, "CHECK constraint EXPRESSION(...)"; a table's CHECK constraints go
# by their names, and NOT NULL columns have their own message.
TABLE_CONSTRAINT = re.compile(r"CHECK constraint (?!EXPRESSION\()|NOT NULL constraint|DELTA_NOT_NULL")
WRITE_ATTEMPTS = 4
# A delta-rs commit of files already written takes milliseconds: it can afford more attempts.
DAY_FILES_ATTEMPTS = 20
# The first days recorded create the ledger. Threads of one step (raw_events ingests four tables at
# once) would each try to create it, and all but one fail: a table's first commit is not retried.
# Appends are quick locally (delta-rs, no Spark job) and rare on a cluster, so they all go one at a time.
_LEDGER_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def replace_where(days: Sequence[date]) -> str:
    """The predicate selecting exactly `days`: a range when they are contiguous (prunes best), else a list."""
    ordered = sorted(set(days))
    if not ordered:
        raise ValueError("replace_where needs at least one day")
    if (ordered[-1] - ordered[0]).days + 1 == len(ordered):
        return f"{PARTITION_COLUMN} >= '{ordered[0].isoformat()}' AND {PARTITION_COLUMN} <= '{ordered[-1].isoformat()}'"
    return f"{PARTITION_COLUMN} IN ({', '.join(repr(d.isoformat()) for d in ordered)})"


def schema_problems(stored: StructType, written: StructType) -> list[str]:
    """Columns a write would drop, retype or add."""
    found = {f.name: f.dataType.simpleString() for f in written.fields}
    declared = set(stored.fieldNames())
    problems = [f"column {f.name} ({f.dataType.simpleString()}) is not in the table"
                for f in written.fields if f.name not in declared]
    for column in stored.fields:
        kind = column.dataType.simpleString()
        if column.name not in found:
            problems.append(f"column {column.name} ({kind}) is missing from the rows written")
        elif found[column.name] != kind:
            problems.append(f"column {column.name} is {found[column.name]} in the rows written, {kind} in the table")
    return problems


def _days_text(days: Sequence[date]) -> str:
    return days[0].isoformat() if len(days) == 1 else f"{len(days)} days {days[0]}..{days[-1]}"


def _matches(err: BaseException, names: Sequence[str]) -> Optional[str]:
    text = f"{type(err).__name__}: {err}"
    return next((name for name in names if name in text), None)


class DeltaTableStore:
    """Reads and writes the deployment's Delta tables, by day."""

    def __init__(self, catalog: TableCatalog):
        self.catalog = catalog

    @classmethod
    def local(cls, warehouse: str | Path, schema: str = LOCAL_SCHEMA) -> "DeltaTableStore":
        """The store of local tables `<warehouse>/<schema>/<table>`."""
        return cls(LocalCatalog(Path(warehouse), schema))

    def name(self, table: str) -> str:
        return self.catalog.name(table)

    def where(self, table: str) -> str:
        """What to show a user: the folder, or the Unity Catalog name."""
        return self.catalog.location(table) or self.catalog.name(table)

    def readable_without_spark(self, table: str) -> bool:
        """Whether the days and values of `table` can be read here without a JVM (sensors)."""
        return self.catalog.location(table) is not None

    # ----------------------------------------------------------------- reading
    def existing_days(self, table: str, spark: Optional[SparkSession] = None) -> list[date]:
        """Days written to a partitioned table: days with rows, and days recorded as written without rows."""
        location = self.catalog.location(table)
        if location is not None:
            return sorted(delta_log.days_with_rows(location) | self._ledger_days(table, None))
        spark = _need(spark, table)
        if not self.catalog.exists(spark, table):
            return []
        with_rows = {r[0] for r in self._open(spark, table).select(PARTITION_COLUMN).distinct().collect()}
        return sorted(d for d in with_rows | self._ledger_days(table, spark) if d is not None)

    def distinct_values_by_day(self, table: str, column: str, spark: Optional[SparkSession] = None) -> dict[date, set[str]]:
        """{day: distinct values of `column`} (e.g. which model versions scored each day)."""
        location = self.catalog.location(table)
        if location is not None:
            return delta_log.values_by_day(location, column)
        spark = _need(spark, table)
        if not self.catalog.exists(spark, table):
            return {}
        rows = (self._open(spark, table).groupBy(PARTITION_COLUMN)
                .agg(F.collect_set(F.col(column).cast("string")).alias("values")).collect())
        return {r[PARTITION_COLUMN]: set(r["values"]) for r in rows}

    def pinned_version(self, table: str) -> Optional[int]:
        """The table's latest version when it can be had without Spark (local tables), else None."""
        location = self.catalog.location(table)
        return delta_log.current_version(location) if location is not None else None

    def stored_schema(self, spark: SparkSession, table: str) -> Optional[StructType]:
        """The schema the Delta table declares (and enforces); None when there is no table yet."""
        location = self.catalog.location(table)
        if location is not None:  # from the log, without a round trip to Spark
            found = delta_log.open_table(location)
            return StructType.fromJson(json.loads(found.schema().to_json())) if found is not None else None
        return self._open(spark, table).schema if self.catalog.exists(spark, table) else None

    def read(self, spark: SparkSession, table: str, days: Optional[Sequence[date]] = None,
             version: Optional[int] = None) -> DataFrame:
        """The given days (or the whole table), at `version` or at the latest one.

        Local tables are planned by delta-rs: it resolves the version's live files from the log, and
        Spark reads those Parquet files. Planned by Spark's Delta reader, every read costs a Spark job
        or two to filter the table's file list (and one to rebuild the list after each commit), which
        adds up on a new day's path that reads a dozen tables. Tables that need
        Delta's reader (deletion vectors, column mapping) and Unity Catalog ones go through it.
        """
        if not self.catalog.exists(spark, table):
            raise TableNotFoundError(
                f"Table {self.where(table)} has not been written yet; materialize {table} first.")
        location = self.catalog.location(table)
        snapshot = delta_log.plain_snapshot(location, days, version) if location is not None else None
        if snapshot is not None:
            schema = StructType.fromJson(json.loads(snapshot.schema_json))
            if not snapshot.files:
                return spark.createDataFrame([], schema)
            partitioned = PARTITION_COLUMN in schema.fieldNames() and any(
                f"/{PARTITION_COLUMN}=" in path for path in snapshot.files[:1])
            reader = spark.read.schema(schema).option("basePath", location) if partitioned else spark.read.schema(schema)
            # the partition column comes from the folder names; the select keeps the table's column order
            return reader.parquet(*snapshot.files).select(*schema.fieldNames())
        frame = self._open(spark, table, version)
        return frame if days is None else frame.where(F.col(PARTITION_COLUMN).isin(list(days)))

    def _open(self, spark: SparkSession, table: str, version: Optional[int] = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return self.catalog.open(reader, table)

    # ----------------------------------------------------------------- writing
    def write(self, df: DataFrame, table: str, days: Optional[Sequence[date]] = None, *,
              record_empty_days: bool = True) -> Commit:
        """Replace exactly `days` of a partitioned table in one commit (or the whole table when `days` is None)."""
        spark = df.sparkSession
        schema = df.schema  # one plan analysis over Spark Connect: taken once
        if days is None:
            return self._overwrite(spark, df, table)
        if PARTITION_COLUMN not in schema.fieldNames():
            raise ValueError(f"A partitioned write to {self.name(table)} needs a '{PARTITION_COLUMN}' column; "
                             f"got {schema.fieldNames()}")
        ordered = tuple(sorted(set(days)))
        if not ordered:
            raise ValueError(f"A partitioned write to {self.name(table)} needs at least one day")
        if self.catalog.exists(spark, table):
            problems = schema_problems(self.stored_schema(spark, table), schema)
            if problems:
                raise SchemaMismatchError(
                    f"{self.name(table)}: {'; '.join(problems)}. A partitioned table keeps one schema for all its "
                    "days: fix what produces the rows, or rewrite the whole table on purpose.")
        else:
            self._create(spark, table, schema)
        write_id = uuid.uuid4().hex
        # One file per day: a day replaced later removes one file, and a year read opens 365, not 365 x tasks.
        clustered = df.repartition(PARTITION_COLUMN)

        def save() -> None:
            self.catalog.save(clustered.write.format("delta").mode("overwrite")
                              .option("replaceWhere", replace_where(ordered))
                              .option("userMetadata", _user_metadata(write_id, ordered)), table)

        location = self.catalog.location(table)
        shape = day_files.plain_shape(location) if location is not None else None
        if shape is not None:
            version: Optional[int] = self._commit_day_files(clustered, table, location, ordered, write_id, shape)
        else:  # Unity Catalog tables, and local ones with Delta features delta-rs must not write past
            self._committing(save, table, ordered)
            version = self._version_of(spark, table, write_id)
        if record_empty_days:
            self._record_days_without_rows(spark, table, ordered, version)
        return Commit(table, version, ordered)

    def _commit_day_files(self, clustered: DataFrame, table: str, location: str, days: Sequence[date],
                          write_id: str, shape: day_files.TableShape) -> int:
        """Spark writes the day files as Parquet, delta-rs commits them in one transaction (see `day_files`)."""
        day_files.sweep_stale_staging(location)
        staging = day_files.staging_folder(location, write_id)
        try:
            clustered.write.partitionBy(PARTITION_COLUMN).parquet(str(staging))
            files = day_files.staged_files(staging)
            wanted = sorted(d.isoformat() for d in days)
            if any(f.day not in wanted for f in files):
                raise _outside_days(self.name(table), days)

            def conflicted(attempt: int) -> None:
                log.warning(f"{self.name(table)}: the day files' commit conflicts with a concurrent commit; "
                            f"committing them again on the newer version (attempt {attempt + 1} of {DAY_FILES_ATTEMPTS})")
                time.sleep(random.uniform(0.05, 0.25) * attempt)

            try:
                write = day_files.DayWrite(write_id, wanted, _user_metadata(write_id, days), shape)
                return day_files.commit_days(location, files, write, DAY_FILES_ATTEMPTS, conflicted)
            except day_files.CommitConflict as err:
                raise _gave_up(self.name(table), days, "a newer version at every attempt",
                               DAY_FILES_ATTEMPTS) from err
            except day_files.TableChangedError as err:
                raise ConcurrentWriteError(
                    f"{self.name(table)}: another run changed the table's schema, settings or protocol while this "
                    f"one wrote {_days_text(days)} ({err}); nothing was committed. Run it again.") from err
        finally:
            day_files.remove_staging(staging)

    def write_empty_days(self, spark: SparkSession, table: str, schema: StructType, days: Sequence[date], *,
                         record_empty_days: bool = True) -> Commit:
        """Replace `days` with no rows; without a commit when the table has no rows on those days already."""
        if PARTITION_COLUMN not in schema.fieldNames():
            raise ValueError(f"write_empty_days needs a partitioned schema (a '{PARTITION_COLUMN}' column)")
        location = self.catalog.location(table)
        if location is not None and self.catalog.exists(spark, table) and not (
                delta_log.days_with_rows(location) & set(days)):
            ordered = tuple(sorted(set(days)))
            if record_empty_days:
                self._record(spark, table, ordered, delta_log.current_version(location))
            return Commit(table, None, ordered)  # the usual case (no rejects, before or now): nothing to replace
        return self.write(spark.createDataFrame([], schema), table, days, record_empty_days=record_empty_days)

    def _overwrite(self, spark: SparkSession, df: DataFrame, table: str) -> Commit:
        created = not self.catalog.exists(spark, table)
        write_id = uuid.uuid4().hex
        # A whole table is replaced with its schema: nothing of the old version remains to be mixed with.
        self._committing(lambda: self.catalog.save(
            df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
            .option("userMetadata", _user_metadata(write_id, ())), table), table, ())
        if created:
            self.catalog.register(spark, table)
        return Commit(table, self._version_of(spark, table, write_id))

    def _create(self, spark: SparkSession, table: str, schema: StructType) -> None:
        """An empty table partitioned by day, so that every write replaces days the same way."""
        self._committing(lambda: self.catalog.save(
            spark.createDataFrame([], schema).write.format("delta").mode("ignore").partitionBy(PARTITION_COLUMN),
            table), table, ())
        self.catalog.register(spark, table)

    def _committing(self, save: Callable[[], None], table: str, days: Sequence[date]) -> None:
        """Run a write; again when a concurrent commit conflicts with it, then give up naming the conflict."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                save()
                return
            except Exception as err:  # Delta's errors reach Python as several types (py4j, Connect, delta.exceptions)
                # Delta reports a table's own constraints violated under a replaceWhere as a mismatch too
                if _matches(err, OUTSIDE_DAYS) and not TABLE_CONSTRAINT.search(str(err)):
                    raise _outside_days(self.name(table), days) from err
                conflict = _matches(err, CONFLICTS)
                if conflict is None:
                    raise
                if attempt == WRITE_ATTEMPTS:
                    raise _gave_up(self.name(table), days, conflict, WRITE_ATTEMPTS) from err
                log.warning(f"{self.name(table)}: {conflict} conflicts with a concurrent commit; writing again "
                            f"(attempt {attempt + 1} of {WRITE_ATTEMPTS})")
                time.sleep(random.uniform(0.2, 1.0) * attempt)

    def _version_of(self, spark: SparkSession, table: str, write_id: str) -> Optional[int]:
        location = self.catalog.location(table)
        if location is not None:
            return delta_log.version_of_write(location, write_id)
        for row in spark.sql(f"DESCRIBE HISTORY {self.name(table)} LIMIT 50").select("version", "userMetadata").collect():
            if delta_log._write_id(row["userMetadata"]) == write_id:
                return int(row["version"])
        return None

    # ----------------------------------------------------------------- days without rows
    def _record_days_without_rows(self, spark: SparkSession, table: str, days: Sequence[date],
                                  version: Optional[int]) -> None:
        location = self.catalog.location(table)
        if location is not None:
            with_rows = delta_log.days_with_rows(location)
        else:
            with_rows = {r[0] for r in self.read(spark, table, days, version).select(PARTITION_COLUMN).distinct().collect()}
        empty = tuple(d for d in days if d not in with_rows)
        if empty:
            self._record(spark, table, empty, version)

    def _record(self, spark: SparkSession, table: str, days: Sequence[date], version: Optional[int]) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        ledger = self.catalog.location(LEDGER)
        if ledger is not None:  # local: delta-rs appends without the overhead of a Spark job
            import pyarrow as pa

            rows = pa.table({
                "table_name": pa.array([table] * len(days), pa.string()),
                PARTITION_COLUMN: pa.array(list(days), pa.date32()),
                "table_version": pa.array([version] * len(days), pa.int64()),
                "recorded_at": pa.array([now] * len(days), pa.timestamp("us", tz="UTC")),
            })
            with _LEDGER_LOCK:
                delta_log.append(ledger, rows)
            return
        frame = spark.createDataFrame([(table, d, version, now.replace(tzinfo=None)) for d in days], LEDGER_SCHEMA)

        with _LEDGER_LOCK:
            self._committing(lambda: self.catalog.save(frame.write.format("delta").mode("append"), LEDGER), LEDGER, ())

    def _ledger_days(self, table: str, spark: Optional[SparkSession]) -> set[date]:
        ledger = self.catalog.location(LEDGER)
        if ledger is not None:
            return {d for t, d in delta_log.column_values(ledger, ["table_name", PARTITION_COLUMN]) if t == table}
        if spark is None or not self.catalog.exists(spark, LEDGER):
            return set()
        return {r[0] for r in self._open(spark, LEDGER).where(F.col("table_name") == table)
                .select(PARTITION_COLUMN).distinct().collect()}


def _outside_days(name: str, days: Sequence[date]) -> RowsOutsideDaysError:
    return RowsOutsideDaysError(f"{name}: the rows written include days other than the "
                                f"{_days_text(days) if days else 'days'} being replaced; nothing was written.")


def _gave_up(name: str, days: Sequence[date], conflict: str, attempts: int) -> ConcurrentWriteError:
    return ConcurrentWriteError(
        f"{name}: another run kept committing to the same table{' (' + _days_text(days) + ')' if days else ''} "
        f"while this one wrote it (Delta: {conflict}); gave up after {attempts} attempts and committed nothing. "
        "Run it again once the other run is done.")


def _user_metadata(write_id: str, days: Sequence[date]) -> str:
    return json.dumps({"write_id": write_id, "writer": "pdm_assets",
                       "days": [days[0].isoformat(), days[-1].isoformat()] if days else []})


def _need(spark: Optional[SparkSession], table: str) -> SparkSession:
    session = spark or SparkSession.getActiveSession()
    if session is None:
        raise RuntimeError(f"{table} is a Unity Catalog table: only Spark reads it, and this process has no Spark "
                           "session (sensors on the orchestrating host use what the Dagster instance recorded).")
    return session
