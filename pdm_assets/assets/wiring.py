"""Typed access to the resources every Spark step uses (the step launcher among them), shared metadata."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import AssetExecutionContext, MetadataValue

from pdm_assets.resources.landing import LandingZoneResource
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.tables import TableStoreResource

# Every Spark asset asks for "step_launcher": a no-op locally, the Databricks step launcher
# on Databricks, so the deployment decides where a step runs without touching the assets.
SPARK_STEP_RESOURCES = {"spark", "tables", "landing", "step_launcher"}


@dataclass(frozen=True)
class SparkStep:
    """The resources of a Spark step, typed."""

    spark: SparkSessionResource
    tables: TableStoreResource
    landing: LandingZoneResource


def spark_step(context: AssetExecutionContext) -> SparkStep:
    """The typed resources of the running step."""
    r = context.resources
    return SparkStep(spark=r.spark, tables=r.tables, landing=r.landing)


def run_window_metadata(days: list[date], rows: int) -> dict[str, MetadataValue]:
    """What a range run covered: first and last day, and its rows in all."""
    return {
        "run_first_day": MetadataValue.text(days[0].isoformat()),
        "run_last_day": MetadataValue.text(days[-1].isoformat()),
        "run_row_count": MetadataValue.int(rows),
    }
