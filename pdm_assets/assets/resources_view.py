"""Typed access to the resources every Spark step uses (the step launcher among them)."""
from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetExecutionContext

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
