"""The table store as a Dagster resource, and the IO manager that maps assets to its tables."""
from __future__ import annotations

from typing import Any, Optional

from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext
from pyspark.sql import DataFrame

from pdm_assets.partitions import days_in_window
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.table_store import ParquetTableStore

SUPPORTED_FORMATS = ("parquet",)


class TableStoreResource(ConfigurableResource):
    """Where tables live (`<warehouse>/<table>`) and in which format."""

    warehouse: str
    format: str = "parquet"

    def store(self) -> ParquetTableStore:
        if self.format not in SUPPORTED_FORMATS:
            raise ValueError(f"Unsupported table format '{self.format}'; supported: {', '.join(SUPPORTED_FORMATS)}")
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
        return self.tables.store().read(self.spark.session, table, _days(context))
