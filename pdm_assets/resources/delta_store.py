"""Unity Catalog Delta tables, the table store of PDM_DEPLOYMENT=databricks with PDM_TABLE_FORMAT=delta (DESIGN §4).

The same interface as `ParquetTableStore`: a partitioned write replaces exactly its days with
Delta's `replaceWhere` (atomic: one commit, and Delta rejects rows outside the days), a whole
table is overwritten, reads select days by the `date` partition column.

Not executed by this project's tests: local Spark has no Delta and no Unity Catalog (the emulator's
tests use the Parquet store, as the format switch allows). Runs where Databricks provides both.
"""
from __future__ import annotations

from datetime import date
from typing import Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from pdm_assets.pipeline.schemas import PARTITION_COLUMN
from pdm_assets.resources.table_store import TableNotFoundError


def replace_where(days: Sequence[date]) -> str:
    """The predicate selecting exactly `days`: a range when they are contiguous (prunes best), else a list."""
    ordered = sorted(set(days))
    if not ordered:
        raise ValueError("replace_where needs at least one day")
    if (ordered[-1] - ordered[0]).days + 1 == len(ordered):
        return f"{PARTITION_COLUMN} >= '{ordered[0].isoformat()}' AND {PARTITION_COLUMN} <= '{ordered[-1].isoformat()}'"
    return f"{PARTITION_COLUMN} IN ({', '.join(repr(d.isoformat()) for d in ordered)})"


class DeltaTableStore:
    """Tables `<catalog>.<schema>.<table>` in Delta format, partitioned by `date`."""

    # Only Spark on the cluster reads Unity Catalog tables: sensors on the orchestrating host fall
    # back to what the instance recorded (materialized partitions, model_version metadata).
    readable_here = False

    def __init__(self, catalog: str, schema: str, spark: Optional[SparkSession] = None):
        if not catalog or not schema:
            raise ValueError(f"A Unity Catalog store needs a catalog and a schema; got '{catalog}', '{schema}'")
        self.catalog, self.schema_name, self._session = catalog, schema, spark

    def name(self, table: str) -> str:
        return f"{self.catalog}.{self.schema_name}.{table}"

    def path(self, table: str) -> str:
        """Shown where the Parquet store shows a folder: the table's three-level name."""
        return self.name(table)

    def _spark(self) -> SparkSession:
        session = self._session or SparkSession.getActiveSession()
        if session is None:
            raise RuntimeError(
                "Unity Catalog tables are read through Spark, and this process has no Spark session: they are "
                "only reachable from steps on the cluster (sensors here cannot read them).")
        return session

    def _exists(self, table: str) -> bool:
        return self._spark().catalog.tableExists(self.name(table))

    # ----------------------------------------------------------------- reading
    def stored_schema(self, spark: SparkSession, table: str, days: Optional[Sequence[date]]) -> Optional[StructType]:
        """The schema the table itself declares (Delta enforces it on every write); None if there is no table."""
        return spark.table(self.name(table)).schema if self._exists(table) else None

    def existing_days(self, table: str) -> list[date]:
        if not self._exists(table):
            return []
        rows = self._spark().table(self.name(table)).select(PARTITION_COLUMN).distinct().collect()
        return sorted(r[0] for r in rows if r[0] is not None)

    def distinct_values_by_day(self, table: str, column: str) -> dict[date, set[str]]:
        if not self._exists(table):
            return {}
        rows = (self._spark().table(self.name(table)).groupBy(PARTITION_COLUMN)
                .agg(F.collect_set(F.col(column).cast("string")).alias("values")).collect())
        return {r[PARTITION_COLUMN]: set(r["values"]) for r in rows}

    def read(self, spark: SparkSession, table: str, days: Optional[Sequence[date]] = None) -> DataFrame:
        if not self._exists(table):
            raise TableNotFoundError(f"Table {self.name(table)} does not exist yet; materialize {table} first.")
        frame = spark.table(self.name(table))
        return frame if days is None else frame.where(F.col(PARTITION_COLUMN).isin(list(days)))

    # ----------------------------------------------------------------- writing
    def write(self, df: DataFrame, table: str, days: Optional[Sequence[date]] = None) -> None:
        """Replace exactly `days` of a partitioned table (or the whole table when `days` is None)."""
        writer = df.write.format("delta").mode("overwrite")
        if days is None:
            writer.option("overwriteSchema", "true").saveAsTable(self.name(table))
            return
        if PARTITION_COLUMN not in df.columns:
            raise ValueError(f"A partitioned write needs a '{PARTITION_COLUMN}' column; got {df.columns}")
        if not self._exists(table):
            writer = writer.partitionBy(PARTITION_COLUMN)
        writer.option("replaceWhere", replace_where(days)).saveAsTable(self.name(table))

    def write_empty_days(self, table: str, schema: StructType, days: Sequence[date]) -> None:
        """Replace `days` with no rows: replaceWhere with an empty frame deletes exactly those days."""
        if PARTITION_COLUMN not in schema.fieldNames():
            raise ValueError(f"write_empty_days needs a partitioned schema (a '{PARTITION_COLUMN}' column)")
        self.write(self._spark().createDataFrame([], schema), table, days)
