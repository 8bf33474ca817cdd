"""The Databricks step launcher resource: every Spark step runs as a one-time Databricks job.

`databricks_pyspark_step_launcher` zips this package, uploads it with the pickled step to DBFS,
submits the run, polls it and replays the remote step's events locally.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

from databricks.sdk.errors import NotFound
from dagster import Field, InitResourceContext, Noneable, ResourceDefinition, String
from dagster_databricks import databricks_pyspark_step_launcher
from dagster_databricks.databricks_pyspark_step_launcher import DatabricksPySparkStepLauncher

import pdm_assets
from pdm_assets.deployments.databricks import DatabricksSettings, launcher_config, wheel_uri
from pdm_assets.deployments.wheel import WHEEL_BUILD, copy_shipped_package, wheel_to_upload


def stage_package(target_root: Path) -> Path:
    """Copy the package into `<target_root>/pdm_assets` and return `target_root`.

    The launcher zips the *contents* of `local_dagster_job_package_path`; pointing it at the package
    itself would lose the `pdm_assets/` prefix, and at the repository would ship the virtualenv.
    """
    package = Path(pdm_assets.__file__).resolve().parent
    copy_shipped_package(package, target_root / package.name)
    return target_root


def _launcher_fn(context: InitResourceContext) -> Iterator[DatabricksPySparkStepLauncher]:
    config = dict(context.resource_config)
    local_wheel = config.pop("pdm_local_wheel", None)
    if os.environ.get("DB_IS_DRIVER"):
        # On the cluster the launcher is only rebuilt, never launches: no need to stage anything.
        config["local_dagster_job_package_path"] = str(Path(pdm_assets.__file__).resolve().parent.parent)
        yield DatabricksPySparkStepLauncher(**config)
        return
    with tempfile.TemporaryDirectory(prefix="pdm_assets_code_") as staged:
        config["local_dagster_job_package_path"] = str(stage_package(Path(staged)))
        launcher = DatabricksPySparkStepLauncher(**config)
        if local_wheel:
            _upload_wheel(launcher, local_wheel, config["staging_prefix"])
        yield launcher


def _upload_wheel(launcher: DatabricksPySparkStepLauncher, local_wheel: str, staging_prefix: str) -> None:
    """Put the project wheel where the run's libraries say it is (a built one only if not there yet)."""
    dbfs = launcher.databricks_runner.client.workspace_client.dbfs
    target = (wheel_uri(DatabricksSettings(wheel=local_wheel, staging_prefix=staging_prefix)) or "").removeprefix("dbfs:")

    def already_there() -> bool:
        try:
            return dbfs.get_status(target) is not None
        except NotFound:
            return False

    path = wheel_to_upload(local_wheel, already_there)
    if path is not None:
        with open(path, "rb") as handle:
            dbfs.upload(target, handle, overwrite=True)


def databricks_step_launcher(settings: DatabricksSettings) -> ResourceDefinition:
    """The step launcher every Spark asset requires, configured from the settings."""
    config = launcher_config(settings)
    if settings.wheel == WHEEL_BUILD:
        config["pdm_local_wheel"] = WHEEL_BUILD
    elif settings.wheel and wheel_uri(settings) != settings.wheel:
        config["pdm_local_wheel"] = str(Path(settings.wheel).expanduser().resolve())
    schema = dict(databricks_pyspark_step_launcher.config_schema.config_type.fields)
    schema["pdm_local_wheel"] = Field(Noneable(String), is_required=False, default_value=None)
    return ResourceDefinition(
        resource_fn=_launcher_fn,
        config_schema=schema,
        description="Runs each Spark step as a one-time Databricks job (dagster-databricks step launcher).",
    ).configured(config)
