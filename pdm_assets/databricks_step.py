"""`pdm-databricks-step`, the project wheel's entry point for PDM_DATABRICKS_RUNNER=pipes: one Spark step on Databricks.

Started by a `python_wheel_task` with Pipes' bootstrap in its parameters. It reads the context from
the Unity Catalog Volume, rebuilds the definitions from the forwarded PDM_* settings (the same
assets, resources and Delta store as every other deployment), materializes the step's assets for
its partitions in this process, and sends every materialization and check evaluation back as they
were produced. A failed step sends what it produced first, then fails the run with the error.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Optional, Sequence

from dagster import AssetKey, AssetSelection, DagsterEventType, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._serdes import serialize_value
from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesUnityCatalogVolumesContextLoader,
    PipesUnityCatalogVolumesMessageWriter,
    open_dagster_pipes,
)

from pdm_assets.deployments.pipes import CHECK, MATERIALIZATION


class StepFailed(RuntimeError):
    """The step failed here; its Dagster error (class, message, stack) is the message."""


def run_here(asset_keys: Sequence[str], partition_range: Optional[tuple[str, str]], run_config: Mapping[str, Any],
             pipes: PipesContext) -> None:
    """Materialize the step's assets here and send each materialization and check result as it is recorded."""
    from pdm_assets.definitions import build_definitions
    from pdm_assets.deployments import Settings

    definitions = build_definitions(Settings.from_env(os.environ), on_cluster=True)
    keys = [AssetKey.from_user_string(k) for k in asset_keys]
    tags = {}
    if partition_range is not None:
        tags = {ASSET_PARTITION_RANGE_START_TAG: partition_range[0], ASSET_PARTITION_RANGE_END_TAG: partition_range[1]}
    with DagsterInstance.ephemeral() as instance:
        result = materialize(list(definitions.assets), selection=AssetSelection.assets(*keys),
                             resources=definitions.resources, instance=instance, tags=tags,
                             run_config=dict(run_config), raise_on_error=False)
        for event in result.all_events:
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                pipes.report_custom_message({"kind": MATERIALIZATION,
                                             "event": serialize_value(event.event_specific_data.materialization)})
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                pipes.report_custom_message({"kind": CHECK, "event": serialize_value(event.event_specific_data)})
        failures = [e.event_specific_data.error for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    if failures:
        raise StepFailed(failures[0].to_string())
    if not result.success:
        raise StepFailed(f"The run of {', '.join(asset_keys)} did not succeed ({result.dagster_run.status.value}).")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: Pipes' context from the Volume, the step run here, the events sent back."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    with open_dagster_pipes(params_loader=PipesCliArgsParamsLoader(),
                            context_loader=PipesUnityCatalogVolumesContextLoader(),
                            message_writer=PipesUnityCatalogVolumesMessageWriter()) as pipes:
        os.environ.update(pipes.extras["env"])
        window = pipes.extras.get("partition_range")
        run_here(list(pipes.asset_keys), tuple(window) if window else None, pipes.extras.get("run_config") or {},
                 pipes)


if __name__ == "__main__":
    main()
