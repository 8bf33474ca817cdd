"""The table store as a Dagster resource, and the IO manager that maps assets to its Delta tables."""
from __future__ import annotations

from typing import Any, Optional

from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, MetadataValue, OutputContext
from pyspark.sql import DataFrame

from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline.text import first_few
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.storage.catalogs import LOCAL_SCHEMA, LocalCatalog, TableCatalog, UnityCatalog
from pdm_assets.storage.base import Commit, TableStore
from pdm_assets.storage.delta_store import DeltaTableStore

# Input metadata for an input that may lack some mapped days (a lookahead that has not arrived):
# the asset then reports the gap itself instead of failing.
ALLOW_MISSING_DAYS = "allow_missing_days"


class MissingUpstreamDaysError(LookupError):
    """An input's mapped upstream days have not been materialized."""


class TableStoreResource(ConfigurableResource):
    """Where the Delta tables live: `<warehouse>/<schema>/<table>` named `<schema>.<table>`, or Unity Catalog."""

    warehouse: str
    schema_name: str = LOCAL_SCHEMA
    catalog: str = ""  # set: Unity Catalog tables <catalog>.<schema_name>.<table> (PDM_DEPLOYMENT=databricks)

    def table_catalog(self) -> TableCatalog:
        if self.catalog:
            return UnityCatalog(self.catalog, self.schema_name)
        return LocalCatalog(self.warehouse, self.schema_name)

    def store(self) -> TableStore:
        return DeltaTableStore(self.table_catalog())


def commit_metadata(store: TableStore, commit: Commit) -> dict[str, MetadataValue]:
    """Which table a materialization wrote and the Delta version it committed (read it back with versionAsOf)."""
    where = store.where(commit.table)
    metadata = {"table": MetadataValue.text(store.name(commit.table)),
                "table_path": MetadataValue.path(where) if store.readable_without_spark(commit.table)
                else MetadataValue.text(where)}
    if commit.version is not None:
        metadata["delta_version"] = MetadataValue.int(commit.version)
    return metadata


def _days(context: InputContext | OutputContext) -> Optional[list]:
    if not context.has_asset_partitions:
        return None
    return days_in_window(context.asset_partitions_time_window)


class SparkTableIOManager(ConfigurableIOManager):
    """Stores each asset's Spark DataFrame as the Delta table named after the asset.

    A partitioned output replaces exactly its days; an input reads exactly the upstream days the
    partition mapping selects (lookback and lookahead included), at the version current when the
    step loaded it, so every query of the step sees the same rows.
    """

    tables: TableStoreResource
    spark: SparkSessionResource

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not isinstance(obj, DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()} must return a Spark DataFrame, got {type(obj).__name__}")
        store = self.tables.store()
        commit = store.write(obj, context.asset_key.path[-1], _days(context))
        context.add_output_metadata(commit_metadata(store, commit))

    def load_input(self, context: InputContext) -> DataFrame:
        table = context.asset_key.path[-1]
        days = _days(context)
        store = self.tables.store()
        if days is not None and not context.definition_metadata.get(ALLOW_MISSING_DAYS, False):
            present = set(store.existing_days(table, self.spark.session))
            missing = [d.isoformat() for d in days if d not in present]
            if missing:
                raise MissingUpstreamDaysError(
                    f"{table} has no data for {first_few(missing)}, which this step reads; materialize {table} for "
                    "those days first (a partial input would give wrong results, not an error)."
                )
        version = store.pinned_version(table)
        return store.read(self.spark.session, table, days, version)


class RowsOnDatabricks(DataFrame):
    """A step input on the orchestrating host under Pipes: the table's name only; the rows are read on Databricks.

    A DataFrame by type, so the input's type check holds, but without a session: the step's body,
    the only thing that would use it, runs on Databricks.
    """

    def __new__(cls, table: str) -> "RowsOnDatabricks":
        return object.__new__(cls)

    def __init__(self, table: str) -> None:
        self.table = table

    def __repr__(self) -> str:
        return f"RowsOnDatabricks({self.table!r})"


class ClusterTablesIOManager(ConfigurableIOManager):
    """The orchestrating host's IO manager when every Spark step runs on Databricks through Pipes.

    The step's inputs are read and its tables written on the cluster; here an input is only a
    placeholder (`RowsOnDatabricks`), so the host never starts Spark, and nothing is stored.
    """

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is not None:
            raise TypeError(f"{context.asset_key.to_user_string()} returned rows on the orchestrating host; with "
                            "PDM_DATABRICKS_RUNNER=pipes every table is written on Databricks")

    def load_input(self, context: InputContext) -> RowsOnDatabricks:
        return RowsOnDatabricks(context.asset_key.path[-1])


def day_commit_metadata(commit: Commit) -> dict[str, MetadataValue]:
    """The version that committed a day, on that day's materialization."""
    return {"delta_version": MetadataValue.int(commit.version)} if commit.version is not None else {}
