"""PDM_DATABRICKS_RUNNER=pipes, the orchestrating side: each Spark step is one Databricks run of the project wheel.

The step's body does not run here. `PipesStepRunner.run_step` submits a `python_wheel_task` (the
entry point `pdm-databricks-step`, see `databricks_step.py`) on a job cluster, an existing cluster or
serverless compute; the context and the messages travel through a Unity Catalog Volume (no DBFS).
The remote side runs the same asset with the same store and sends back every Dagster event the
step produced (each day's materialization with its metadata, every check's result); they are
replayed here, so the UI shows a Pipes run as it shows a launcher run.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DagsterInvariantViolationError,
    InitResourceContext,
    MaterializeResult,
    MetadataValue,
    ResourceDefinition,
)
from dagster._core.errors import DagsterExecutionInterruptedError, DagsterPipesExecutionError
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._serdes import deserialize_value
from dagster_databricks.pipes import PipesDatabricksServerlessClient, PipesUnityCatalogVolumesMessageReader
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.service import jobs

from pdm_assets.deployments.databricks import (
    PIPES_ENTRY_POINT,
    DatabricksSettings,
    cluster_libraries,
    job_cluster_spec,
    wheel_uri,
)
from pdm_assets.deployments.wheel import wheel_to_upload

ENVIRONMENT_KEY = "pdm_assets"
MATERIALIZATION, CHECK = "materialization", "check"  # the kinds of events the remote step sends back


class RemoteStepError(RuntimeError):
    """The step failed on Databricks; the message carries the remote error and its trace."""


class _Client(PipesDatabricksServerlessClient):
    """The Volumes client, for clusters as well as serverless: it stages the context and messages on the
    Volume and passes Pipes' bootstrap as task parameters, whatever compute the task names.

    Two things differ from the pinned client (0.29.27): a failed run is recorded instead of raised
    inside the Pipes session, so the events it sent before failing are still read and replayed;
    and an interrupt is remembered, because the client cancels the remote run but does not re-raise.
    """

    failed_run: Optional[int] = None
    interrupted: bool = False

    def _poll_til_success(self, context: Any, run_id: int) -> None:
        try:
            super()._poll_til_success(context, run_id)
        except DagsterPipesExecutionError:
            self.failed_run = run_id
        except DagsterExecutionInterruptedError:
            self.interrupted = True
            raise

    def remote_error(self) -> str:
        """The failed task's error and trace (runs/get-output), as Databricks shows them on the run page."""
        assert self.failed_run is not None
        run = self.client.jobs.get_run(self.failed_run)
        state = run.state.state_message if run.state else ""
        parts = [f"Databricks run {self.failed_run} failed: {state}".rstrip()]
        for task in run.tasks or []:
            output = self.client.jobs.get_run_output(task.run_id)
            if output.error:
                parts.append(output.error)
            if output.error_trace:
                parts.append(output.error_trace)
        return "\n".join(parts)


class PipesStepRunner:
    """Runs a Spark step's asset on Databricks through Pipes and replays what it reported."""

    def __init__(self, settings: DatabricksSettings, client: WorkspaceClient) -> None:
        self.settings = settings
        self.client = client

    def run_step(self, context: AssetExecutionContext) -> Iterator[Any]:
        """Submit the step, wait for it, then yield its materializations and check results (or raise its error)."""
        libraries = cluster_libraries(self._staged_wheel(context))
        task, submit_args = self._task(libraries, context)
        reader = PipesUnityCatalogVolumesMessageReader(
            client=self.client, volume_path=self._pipes_folder(), interval=self.settings.poll_interval_sec)
        client = _Client(self.client, volume_path=self._pipes_folder(), message_reader=reader,
                         poll_interval_seconds=self.settings.poll_interval_sec)
        # The range goes in extras: Pipes' own context carries a partition range only for single-partition steps.
        window = context.partition_key_range if context.has_partition_key_range else None
        extras = {"env": dict(self.settings.env_variables), "run_config": _op_config(context),
                  "partition_range": [window.start, window.end] if window else None}
        invocation = client.run(context=context, task=task, submit_args=submit_args, extras=extras)
        if client.interrupted:  # the remote run was cancelled; the step must fail, not look materialized
            raise DagsterExecutionInterruptedError("Interrupted: the Databricks run was cancelled.")
        yield from replay(context, invocation.get_custom_messages(), invocation.metadata)
        if client.failed_run is not None:
            raise RemoteStepError(client.remote_error())

    def _pipes_folder(self) -> str:
        return f"{self.settings.volume}/pipes"

    def _task(self, libraries: list[dict[str, Any]], context: AssetExecutionContext) -> tuple[jobs.SubmitTask, dict]:
        """The python_wheel_task on the configured compute, and the submit arguments (serverless environments)."""
        task: dict[str, Any] = {
            "task_key": "pdm_step",
            "python_wheel_task": {"package_name": "pdm_assets", "entry_point": PIPES_ENTRY_POINT, "parameters": []},
        }
        submit: dict[str, Any] = {"run_name": f"pdm_assets {context.op_execution_context.op.name}",
                                  "timeout_seconds": self.settings.max_wait_seconds}
        if self.settings.serverless:
            task["environment_key"] = ENVIRONMENT_KEY
            dependencies = [lib["pypi"]["package"] if "pypi" in lib else lib["whl"] for lib in libraries]
            submit["environments"] = [jobs.JobEnvironment.from_dict({
                "environment_key": ENVIRONMENT_KEY,
                "spec": {"environment_version": self.settings.environment_version, "dependencies": dependencies}})]
        elif self.settings.cluster_id:
            task.update(existing_cluster_id=self.settings.cluster_id, libraries=libraries)
        else:
            task.update(new_cluster=job_cluster_spec(self.settings), libraries=libraries)
        return jobs.SubmitTask.from_dict(task), submit

    def _staged_wheel(self, context: AssetExecutionContext) -> str:
        """The wheel's path on the Volume, uploaded through the Files API unless that digest is there already."""
        target, local = wheel_uri(self.settings), self.settings.wheel
        assert local is not None, "the settings refuse PDM_DATABRICKS_WHEEL=none with pipes"
        if target == local:
            return target  # a path in the workspace the user named (a Volume, Workspace files, cloud storage)

        def already_there() -> bool:
            try:
                return self.client.files.get_metadata(target) is not None
            except NotFound:
                return False
            except (Unauthenticated, PermissionDenied) as err:  # a HEAD answer has no body to carry the reason
                raise RemoteStepError(
                    f"{self.client.config.host} refused the request for {target} ({type(err).__name__}): check "
                    "DATABRICKS_TOKEN, and that its principal may read and write the Volume") from err

        path = wheel_to_upload(local, already_there)
        if path is not None:
            context.log.info(f"Uploading {path.name} to {target}")
            with open(path, "rb") as handle:
                self.client.files.upload(target, handle, overwrite=True)
        return target  # type: ignore[return-value]  # None only without a source tree: wheel_to_upload raised


def _op_config(context: AssetExecutionContext) -> Mapping[str, Any]:
    """The step's run config (e.g. the scoring step's pinned model version), for the remote run."""
    config = context.op_execution_context.op_config
    return {"ops": {context.op_execution_context.op.name: {"config": config}}} if config else {}


def replay(context: AssetExecutionContext, messages: list[Any], run_metadata: Mapping[str, Any]) -> Iterator[Any]:
    """Each remote materialization's metadata on its own partition here, then one result per asset, then the checks."""
    materialized: dict[AssetKey, list[AssetMaterialization]] = {}
    checks: list[AssetCheckEvaluation] = []
    for message in messages:
        if not isinstance(message, Mapping) or message.get("kind") not in (MATERIALIZATION, CHECK):
            raise DagsterInvariantViolationError(f"Unexpected message from the Databricks step: {message!r}")
        if message["kind"] == MATERIALIZATION:
            event = deserialize_value(message["event"], AssetMaterialization)
            materialized.setdefault(event.asset_key, []).append(event)
        else:
            checks.append(deserialize_value(message["event"], AssetCheckEvaluation))
    link = {k: MetadataValue.text(str(v)) if not isinstance(v, MetadataValue) else v for k, v in run_metadata.items()}
    for key, events in materialized.items():
        partitioned = [e for e in events if e.partition is not None]
        for event in partitioned:
            context.add_asset_metadata({**event.metadata, **link}, partition_key=event.partition, asset_key=key)
        unpartitioned = {k: v for e in events if e.partition is None for k, v in e.metadata.items()}
        yield MaterializeResult(asset_key=key, metadata={**unpartitioned, **link} if not partitioned else None)
    for check in checks:
        yield AssetCheckResult(asset_key=check.asset_key, check_name=check.check_name, passed=check.passed,
                               severity=check.severity, metadata=check.metadata)


def databricks_pipes_runner(settings: DatabricksSettings) -> ResourceDefinition:
    """The resource every Spark step asks for: a `PipesStepRunner` (credentials from DATABRICKS_HOST/TOKEN)."""

    def init(_: InitResourceContext) -> PipesStepRunner:
        # The SDK reads DATABRICKS_HOST/DATABRICKS_TOKEN itself: no credential passes through config or extras.
        return PipesStepRunner(settings, WorkspaceClient())

    return ResourceDefinition(resource_fn=init, description=(
        "Runs each Spark step as one Databricks run of the project wheel through Dagster Pipes (Unity Catalog Volume)."))
