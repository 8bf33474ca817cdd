"""The table store as a Dagster resource, and the IO manager that maps assets to its tables."""
from __future__ import annotations

from typing import Any, Optional

from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext
from pyspark.sql import DataFrame

from pdm_assets.partitions import days_in_window
from pdm_assets.resources.delta_store import DeltaTableStore
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.table_store import ParquetTableStore

SUPPORTED_FORMATS = ("parquet", "delta")
# Input metadata for an input that may lack some mapped days (a lookahead that has not arrived):
# the asset then reports the gap itself instead of failing.
ALLOW_MISSING_DAYS = "allow_missing_days"


class MissingUpstreamDaysError(LookupError):
    """An input's mapped upstream days have not been materialized."""


class TableStoreResource(ConfigurableResource):
    """Where tables live and in which format: Parquet folders `<warehouse>/<table>`, or Unity Catalog Delta tables."""

    warehouse: str
    format: str = "parquet"
    catalog: str = ""  # delta: tables are <catalog>.<uc_schema>.<table>
    uc_schema: str = ""

    def store(self) -> ParquetTableStore | DeltaTableStore:
        if self.format not in SUPPORTED_FORMATS:
            raise ValueError(f"Unsupported table format '{self.format}'; supported: {', '.join(SUPPORTED_FORMATS)}")
        if self.format == "delta":
            return DeltaTableStore(self.catalog, self.uc_schema)
        return ParquetTableStore(self.warehouse)

    def table_path(self, table: str) -> str:
        return str(self.store().path(table))


def _days(context: InputContext | OutputContext) -> Optional[list]:
    if not context.has_asset_partitions:
        return None
    return days_in_window(context.asset_partitions_time_window)


class SparkTableIOManager(ConfigurableIOManager):
    """Stores each asset's Spark DataFrame as a table named after the asset, one folder per day.

    A partitioned output replaces exactly its days; an input reads exactly the upstream days the
    partition mapping selects (lookback and lookahead included), and only those folders.
    """

    tables: TableStoreResource
    spark: SparkSessionResource

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not isinstance(obj, DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()} must return a Spark DataFrame, got {type(obj).__name__}")
        table = context.asset_key.path[-1]
        self.tables.store().write(obj, table, _days(context))
        context.add_output_metadata({"table_path": self.tables.table_path(table)})

    def load_input(self, context: InputContext) -> DataFrame:
        table = context.asset_key.path[-1]
        days = _days(context)
        store = self.tables.store()
        if days is not None and not context.definition_metadata.get(ALLOW_MISSING_DAYS, False):
            present = set(store.existing_days(table))
            missing = [d.isoformat() for d in days if d not in present]
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                raise MissingUpstreamDaysError(
                    f"{table} has no data for {shown}, which this step reads; materialize {table} for "
                    "those days first (a partial input would give wrong results, not an error)."
                )
        return store.read(self.spark.session, table, days)
