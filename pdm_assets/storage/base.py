"""The interface every table store offers the resources, assets and sensors: tables by name, replaced by day.

`DeltaTableStore` is the one implementation (Delta Lake in every deployment); code above the
storage layer is typed against this Protocol, so a second engine (or a test double) plugs in
without a union type or a flag.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional, Protocol, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType


@dataclass(frozen=True)
class Commit:
    """What a write committed: the table's new version (None when nothing had to change)."""

    table: str
    version: Optional[int]
    days: tuple[date, ...] = ()


class TableStore(Protocol):
    """Reads and writes a deployment's tables, a day at a time."""

    def name(self, table: str) -> str:
        """The table's catalog name (what a user types in `spark.table(...)`)."""

    def where(self, table: str) -> str:
        """What to show a user: the folder, or the catalog name."""

    def readable_without_spark(self, table: str) -> bool:
        """Whether the table's days and values can be read here without a JVM (sensors)."""

    def existing_days(self, table: str, spark: Optional[SparkSession] = None) -> list[date]:
        """Days written to a partitioned table, with rows or recorded as written without rows."""

    def distinct_values_by_day(self, table: str, column: str,
                               spark: Optional[SparkSession] = None) -> dict[date, set[str]]:
        """The distinct values of `column` on each day."""

    def pinned_version(self, table: str) -> Optional[int]:
        """The table's latest version when it can be had without Spark, else None."""

    def stored_schema(self, spark: SparkSession, table: str) -> Optional[StructType]:
        """The schema the table declares and enforces; None when there is no table yet."""

    def read(self, spark: SparkSession, table: str, days: Optional[Sequence[date]] = None,
             version: Optional[int] = None) -> DataFrame:
        """The given days (or the whole table), at `version` or at the latest one."""

    def write(self, df: DataFrame, table: str, days: Optional[Sequence[date]] = None, *,
              record_empty_days: bool = True) -> Commit:
        """Replace exactly `days` of a partitioned table in one commit (or the whole table when `days` is None)."""

    def write_empty_days(self, spark: SparkSession, table: str, schema: StructType, days: Sequence[date], *,
                         record_empty_days: bool = True) -> Commit:
        """Replace `days` with no rows."""
