"""How tables are named and found: local folders named `pdm.<table>`, or Unity Catalog.

The store does the same Delta operations through either; a catalog only says where a table is,
how a writer saves to it and how a reader opens it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol

from pyspark.sql import DataFrame, DataFrameReader, DataFrameWriter, SparkSession

LOCAL_SCHEMA = "pdm"


class TableCatalog(Protocol):
    """Names and locations of a deployment's tables."""

    def name(self, table: str) -> str:
        """The table's catalog name (what a user types in `spark.table(...)`)."""

    def location(self, table: str) -> Optional[str]:
        """A folder this machine reads directly (delta-rs, no JVM), or None when only Spark can (Unity Catalog)."""

    def exists(self, spark: SparkSession, table: str) -> bool:
        """Whether the table has been created."""

    def save(self, writer: DataFrameWriter, table: str) -> None:
        """Run a Delta write to the table."""

    def open(self, reader: DataFrameReader, table: str) -> DataFrame:
        """Open the table with a Delta reader (options such as versionAsOf already set)."""

    def register(self, spark: SparkSession, table: str) -> None:
        """Make the table's name resolve in this session (after it was created)."""


@dataclass(frozen=True)
class LocalCatalog:
    """Delta folders `<warehouse>/<schema>/<table>`, named `<schema>.<table>` in the sessions that write them.

    Spark's local catalog is kept in memory, per session (Hive's embedded Derby metastore would
    admit one JVM at a time: no second run, no notebook beside a run). The tables themselves are
    plain Delta folders any Delta reader opens; `register` (and `local_tables.open_session`)
    gives them their names in a session.
    """

    warehouse: Path
    schema: str = LOCAL_SCHEMA

    def name(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def location(self, table: str) -> str:
        return str(Path(self.warehouse) / self.schema / table)

    def exists(self, spark: SparkSession, table: str) -> bool:
        return (Path(self.location(table)) / "_delta_log").is_dir()

    def save(self, writer: DataFrameWriter, table: str) -> None:
        writer.save(self.location(table))

    def open(self, reader: DataFrameReader, table: str) -> DataFrame:
        return reader.load(self.location(table))

    def register(self, spark: SparkSession, table: str) -> None:
        location = self.location(table).replace("'", "''")
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.schema} "
                  f"LOCATION '{str(Path(self.warehouse) / self.schema)}'")
        # Dropping an external table's name leaves its files alone; re-creating it points the name
        # at this warehouse (one session may serve several, e.g. a Connect server or a test run).
        spark.sql(f"DROP TABLE IF EXISTS {self.name(table)}")
        spark.sql(f"CREATE TABLE {self.name(table)} USING DELTA LOCATION '{location}'")


@dataclass(frozen=True)
class UnityCatalog:
    """Managed Delta tables `<catalog>.<schema>.<table>` in Unity Catalog (PDM_DEPLOYMENT=databricks).

    The catalog and schema must exist; the store creates the tables. Only Spark on the cluster
    reads them, so sensors on the orchestrating host use what the Dagster instance recorded.
    """

    catalog: str
    schema: str

    def __post_init__(self) -> None:
        if not self.catalog or not self.schema:
            raise ValueError(f"Unity Catalog tables need a catalog and a schema; got '{self.catalog}', '{self.schema}'")

    def name(self, table: str) -> str:
        return f"{self.catalog}.{self.schema}.{table}"

    def location(self, table: str) -> None:
        return None

    def exists(self, spark: SparkSession, table: str) -> bool:
        return spark.catalog.tableExists(self.name(table))

    def save(self, writer: DataFrameWriter, table: str) -> None:
        writer.saveAsTable(self.name(table))

    def open(self, reader: DataFrameReader, table: str) -> DataFrame:
        return reader.table(self.name(table))

    def register(self, spark: SparkSession, table: str) -> None:
        """Unity Catalog names its tables itself."""
