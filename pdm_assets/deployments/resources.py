"""The resources of a deployment: one builder, and the few things that differ per deployment as data."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dagster import EnvVar, ResourceDefinition

from pdm_assets.assets.wiring import PIPES_RUNNER
from pdm_assets.deployments import databricks
from pdm_assets.deployments.pipes import databricks_pipes_runner
from pdm_assets.deployments.settings import Settings
from pdm_assets.resources.landing import LandingZoneResource
from pdm_assets.resources.mlflow import MlflowResource, local_mlflow_uris
from pdm_assets.resources.scoring_model import ScoringModelResource
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.deployments.step_launcher import databricks_step_launcher
from pdm_assets.resources.tables import ClusterTablesIOManager, SparkTableIOManager, TableStoreResource


@dataclass(frozen=True)
class Placement:
    """Where a deployment's steps run and what they talk to: everything else is the same everywhere."""

    spark: SparkSessionResource
    tables: TableStoreResource
    mlflow: MlflowResource
    preload_model: bool  # start loading the champion when a run starts (only where steps run in this process)
    step_launcher: Any  # a ResourceDefinition: none, or the Databricks launcher
    pipes_runner: Any = None  # a ResourceDefinition: the Databricks Pipes runner (then no step reads tables here)


def build_resources(settings: Settings, on_cluster: bool = False) -> dict[str, Any]:
    """Resources of the selected deployment; `on_cluster`: for a Pipes step running on Databricks itself."""
    place = _databricks(settings, on_cluster) if settings.deployment == "databricks" else _here(settings)
    io_manager = (ClusterTablesIOManager() if place.pipes_runner is not None
                  else SparkTableIOManager(tables=place.tables, spark=place.spark))
    return {
        "spark": place.spark,
        "tables": place.tables,
        "landing": LandingZoneResource(landing_dir=str(settings.landing_dir)),
        "table_io_manager": io_manager,
        "mlflow": place.mlflow,
        "scoring_model": ScoringModelResource(mlflow=place.mlflow, spark=place.spark, preload=place.preload_model),
        "step_launcher": place.step_launcher,
        PIPES_RUNNER: place.pipes_runner or ResourceDefinition.none_resource(description="Steps run where they start."),
    }


def _mlflow(settings: Settings, tracking: str, registry: str, model_name: str) -> MlflowResource:
    local_uri, local_artifacts = local_mlflow_uris(settings.home)
    tracking = tracking or local_uri  # empty: SQLite under PDM_HOME/mlflow
    return MlflowResource(tracking_uri=tracking, registry_uri=registry, model_name=model_name,
                          artifact_root=local_artifacts if tracking == local_uri else "")


def _here(settings: Settings) -> Placement:
    """Local and Connect: steps run in this process, against an embedded session or a Connect server."""
    if settings.deployment == "connect":
        spark = SparkSessionResource(remote=EnvVar("SPARK_REMOTE"), shuffle_partitions=settings.shuffle_partitions)
    else:
        spark = SparkSessionResource(master=settings.spark_master, shuffle_partitions=settings.shuffle_partitions)
    return Placement(
        spark=spark,
        tables=TableStoreResource(warehouse=str(settings.warehouse)),
        mlflow=_mlflow(settings, settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.model_name),
        preload_model=True,
        step_launcher=ResourceDefinition.none_resource(description="No step launcher: steps run here."),
    )


def _databricks(settings: Settings, on_cluster: bool) -> Placement:
    """Steps run on Databricks; the same resources are rebuilt there from the forwarded PDM_* variables."""
    cfg = settings.databricks or databricks.DatabricksSettings.from_env({})
    tracking, registry, model_name = databricks.mlflow_settings(
        cfg, settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.model_name)
    # Forward the resolved timeline and paths too, so both sides build identical definitions.
    forwarded = {**cfg.env_variables, "PDM_DEPLOYMENT": "databricks", "PDM_HOME": str(settings.home),
                 "PDM_LANDING_DIR": str(settings.landing_dir), "PDM_START_DATE": settings.start.isoformat(),
                 "PDM_END_DATE": settings.end.isoformat() if settings.end else "live",
                 "PDM_MLFLOW_TRACKING_URI": tracking,
                 "PDM_MLFLOW_REGISTRY_URI": registry, "PDM_MODEL_NAME": model_name}
    # On the cluster a Pipes step runs its body in place (neither runner again); a launcher step
    # rebuilds its launcher there, which knows it is on the driver and launches nothing.
    launcher = cfg.runner == databricks.STEP_LAUNCHER
    pipes = cfg.runner == databricks.PIPES and not on_cluster
    remote = replace(cfg, env_variables=forwarded)
    return Placement(
        # On the cluster `getActiveSession()` is the cluster's session; locally no step touches Spark.
        spark=SparkSessionResource(master=settings.spark_master, shuffle_partitions=settings.shuffle_partitions),
        tables=TableStoreResource(warehouse=str(settings.warehouse), catalog=cfg.catalog, schema_name=cfg.schema),
        mlflow=_mlflow(settings, tracking, registry, model_name),
        # The scoring step loads its model on the cluster; this host has no Spark to preload with.
        preload_model=False,
        step_launcher=(databricks_step_launcher(remote) if launcher
                       else ResourceDefinition.none_resource(description="No step launcher: Pipes runs the steps.")),
        pipes_runner=databricks_pipes_runner(remote) if pipes else None,
    )
