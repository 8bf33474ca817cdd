"""PDM_DATABRICKS_RUNNER=pipes end to end: the real dagster-databricks Pipes client, driven by the CLI, against the
emulator of a workspace without a DBFS root (Unity Catalog Volume only).

Each Spark step is one `python_wheel_task` of the project wheel (built from this tree, uploaded to the
Volume through the Files API); the remote step sends its events back through Pipes messages on the
Volume. As for the launcher, remote steps cost a JVM start each, so the tests keep to few of them.
"""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterEventType, DagsterRunStatus

from pdm_assets_tests.deployments.databricks_cli import (
    CHAIN, CHAIN_DAYS, DAY, TOKEN, assert_cancelled, assert_chain_recorded, assert_token_nowhere, cli_command, cli_env,
    events_of, interrupt_while_running, local_mlflow, materialize_cli, only_run, open_instance, prepare_chain,
    small_runtime_conf,
)
from pdm_assets_tests.fakes import DatabricksEmulator

VOLUME = "/Volumes/main/pdm/staging"


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[DatabricksEmulator]:
    """A Unity-Catalog-only workspace: the Volume exists, DBFS is refused; runtimes have Delta Lake."""
    with DatabricksEmulator(root=tmp_path / "workspace", token=TOKEN, pending_seconds=0.1, terminating_seconds=0.1,
                            runtime_spark_conf=small_runtime_conf(), volumes=["main.pdm.staging"],
                            dbfs=False) as emulator:
        yield emulator


def pipes_env(api: DatabricksEmulator, home: Path, landing: Path, **overrides: str) -> dict[str, str]:
    return cli_env(api, home, landing, PDM_DATABRICKS_RUNNER="pipes", PDM_DATABRICKS_VOLUME=VOLUME, **overrides)


def _assert_no_dbfs_and_no_token(api: DatabricksEmulator, env: dict[str, str], output: str) -> None:
    """No DBFS endpoint was called, and the token is nowhere it could leak to."""
    assert api.requests and not [path for _, path in api.requests if "/dbfs/" in path]
    assert_token_nowhere(api, env, output)


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_raw_to_predictions_through_pipes_on_a_volume_without_dbfs(workspace: DatabricksEmulator, tmp_path: Path,
                                                                   landing: Path, spark) -> None:
    """Two days of raw tables → features → predictions, each Spark step one Databricks run of the wheel."""
    from pdm_assets.storage.delta_store import DeltaTableStore

    home = tmp_path / "home"
    env = pipes_env(workspace, home, landing, **local_mlflow(home))
    version = prepare_chain(env, spark)

    done = materialize_cli(env, ",".join(CHAIN), partition=None, partition_range=f"{CHAIN_DAYS[0]}...{DAY}")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    # The UI sees what it sees of a launcher run: every day of every asset, its own figures, every check.
    materialized = assert_chain_recorded(env, version)
    for day in CHAIN_DAYS:
        scored = materialized[("failure_predictions", day)].metadata
        assert scored["delta_version"].value >= 0 and scored["Databricks Job Run ID"].value
        assert materialized[("raw_telemetry", day)].metadata["dagster/row_count"].value == 3 * 24
    written = DeltaTableStore.local(home / "warehouse").read(spark, "failure_predictions")
    assert written.count() == 2 * 3 * 8

    # One python_wheel_task per Spark step, on a new job cluster, the wheel from the Volume.
    steps = ("raw_events", "machine_features", "failure_predictions")
    assert len(workspace.submitted_runs) == len(steps)
    for body in workspace.submitted_runs:
        [task] = body["tasks"]
        assert task["python_wheel_task"]["package_name"] == "pdm_assets"
        assert task["python_wheel_task"]["entry_point"] == "pdm-databricks-step"
        assert "--dagster-pipes-context" in task["python_wheel_task"]["parameters"]
        assert task["new_cluster"]["spark_version"] == "17.3.x-scala2.13"
    libraries = workspace.submitted_runs[0]["tasks"][0]["libraries"]
    [wheel] = [lib["whl"] for lib in libraries if "whl" in lib]
    assert wheel.startswith(f"{VOLUME}/wheels/") and wheel.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(workspace.volume_path(wheel)) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "pdm-databricks-step = pdm_assets.databricks_step:main" in archive.read(entry_points).decode()
    uploads = [path for method, path in workspace.requests if method == "PUT" and path.endswith(".whl")]
    assert len(uploads) == 1  # built and uploaded once; the later steps found it by its digest
    _assert_no_dbfs_and_no_token(workspace, env, done.stdout + done.stderr)


@pytest.mark.slow  # the emulator's serverless compute is a Spark process
def test_training_runs_on_serverless_databricks_through_pipes(workspace: DatabricksEmulator, labelled) -> None:
    """failure_model trained remotely (serverless, the wheel in its environment) on the shared labelled quarter."""
    from mlflow.tracking import MlflowClient

    from pdm_assets.resources.mlflow import CHAMPION, local_mlflow_uris
    from pdm_assets_tests.assets.helpers import TOY_FLOORS, train

    defs, instance, settings = labelled
    assert train(defs, instance, {}, selection="key:training_set").success  # here, on the shared session
    mlflow_uri, _ = local_mlflow_uris(settings.home)
    env = pipes_env(workspace, settings.home, settings.landing_dir, PDM_DATABRICKS_SERVERLESS="true",
                    PDM_START_DATE="2015-01-01", PDM_END_DATE="2015-04-01", PDM_MODEL_NAME="remote_failure_model",
                    PDM_MLFLOW_TRACKING_URI=mlflow_uri, PDM_MLFLOW_REGISTRY_URI=mlflow_uri)
    config = {"ops": {"failure_model": {"config": {**TOY_FLOORS, "hyperparameters": '{"numTrees": 10, "maxDepth": 5}',
                                                   "min_macro_f1": 0.3}}}}

    done = subprocess.run([*cli_command("failure_model", None), "--config-json", json.dumps(config)], env=env,
                          capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    with open_instance(env) as instance_here:
        run = only_run(instance_here)
        [model] = [e.event_specific_data.materialization
                   for e in events_of(instance_here, run.run_id, DagsterEventType.ASSET_MATERIALIZATION)]
        checks = {e.event_specific_data.check_name: e.event_specific_data.passed
                  for e in events_of(instance_here, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION)}
    assert checks.get("quality_gate") is True, checks
    version = model.metadata["model_version"].value
    client = MlflowClient(mlflow_uri, mlflow_uri)
    assert str(client.get_model_version_by_alias("remote_failure_model", CHAMPION).version) == version
    assert client.get_run(model.metadata["mlflow_run_id"].value).data.metrics["macro_f1"] >= 0.3
    [body] = workspace.submitted_runs
    [task] = body["tasks"]
    assert "new_cluster" not in task and "existing_cluster_id" not in task and "libraries" not in task
    [environment] = body["environments"]
    assert task["environment_key"] == environment["environment_key"]
    assert environment["spec"]["environment_version"] == "4"
    assert any(d.startswith(f"{VOLUME}/wheels/") for d in environment["spec"]["dependencies"])
    _assert_no_dbfs_and_no_token(workspace, env, done.stdout + done.stderr)


@pytest.fixture
def sparkless(tmp_path: Path) -> Iterator[DatabricksEmulator]:
    """The same workspace, but its runtime starts no Spark up front: for steps that fail before they need it."""
    with DatabricksEmulator(root=tmp_path / "workspace", token=TOKEN, pending_seconds=0.1, terminating_seconds=0.1,
                            volumes=["main.pdm.staging"], dbfs=False) as emulator:
        yield emulator


@pytest.mark.slow  # the CLI is a process of its own
def test_a_remote_failure_through_pipes_fails_the_step_with_the_remote_error(sparkless: DatabricksEmulator,
                                                                              tmp_path: Path) -> None:
    empty = tmp_path / "empty_landing"
    empty.mkdir()
    env = pipes_env(sparkless, tmp_path / "home", empty)

    done = materialize_cli(env, "raw_machines", partition=None)

    assert done.returncode != 0
    with open_instance(env) as instance:
        run = only_run(instance)
        [failure] = events_of(instance, run.run_id, DagsterEventType.STEP_FAILURE)
        materialized = events_of(instance, run.run_id, DagsterEventType.ASSET_MATERIALIZATION)
    assert run.status == DagsterRunStatus.FAILURE and not materialized
    text = failure.event_specific_data.error.to_string()
    assert "RemoteStepError" in text and "MissingLandingFileError" in text and "machines" in text, text
    [run_id] = sparkless.jobs.runs
    assert sparkless.run(run_id)["state"]["result_state"] == "FAILED"
    _assert_no_dbfs_and_no_token(sparkless, env, done.stdout + done.stderr)


@pytest.mark.slow  # the CLI is a process of its own
def test_a_wrong_token_through_pipes_fails_before_anything_runs(sparkless: DatabricksEmulator, tmp_path: Path,
                                                                landing: Path) -> None:
    env = pipes_env(sparkless, tmp_path / "home", landing, DATABRICKS_TOKEN="not-the-token")

    done = materialize_cli(env, "raw_machines", partition=None)

    assert done.returncode != 0
    with open_instance(env) as instance:
        [failure] = events_of(instance, only_run(instance).run_id, DagsterEventType.STEP_FAILURE)
    text = failure.event_specific_data.error.to_string()
    assert "refused the request" in text and "Unauthenticated" in text and "check DATABRICKS_TOKEN" in text, text
    assert sparkless.submitted_runs == [] and sparkless.requests == []
    assert "not-the-token" not in done.stdout + done.stderr


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_interrupting_a_pipes_step_cancels_the_run_and_fails_the_step(workspace: DatabricksEmulator, tmp_path: Path,
                                                                      landing: Path) -> None:
    env = pipes_env(workspace, tmp_path / "home", landing)
    output = interrupt_while_running(workspace, env, "raw_machines")

    assert_cancelled(workspace, output)
    with open_instance(env) as instance:
        run = only_run(instance)
        assert run.status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
        assert events_of(instance, run.run_id, DagsterEventType.STEP_FAILURE)
        assert not events_of(instance, run.run_id, DagsterEventType.ASSET_MATERIALIZATION)


# ---- settings (no Spark, no subprocess) -----------------------------------------------------------
def _databricks(**env: str):
    from pdm_assets.deployments import Settings

    return Settings.from_env({"PDM_DEPLOYMENT": "databricks", "PDM_HOME": "/tmp/pdm", **env}).databricks


def test_the_runner_is_one_setting_and_pipes_needs_a_volume() -> None:
    from pdm_assets.deployments.databricks import job_cluster_spec, wheel_uri
    from pdm_assets.deployments.wheel import source_digest, source_root

    assert _databricks().runner == "step_launcher"  # the default: today's deployments keep running
    for env, message in [({"PDM_DATABRICKS_RUNNER": "notebook"}, "PDM_DATABRICKS_RUNNER must be one of"),
                         ({"PDM_DATABRICKS_RUNNER": "pipes"}, "set PDM_DATABRICKS_VOLUME=/Volumes/"),
                         ({"PDM_DATABRICKS_RUNNER": "pipes", "PDM_DATABRICKS_VOLUME": "dbfs:/tmp"},
                          "must be a Unity Catalog Volume path"),
                         ({"PDM_DATABRICKS_RUNNER": "pipes", "PDM_DATABRICKS_VOLUME": VOLUME,
                           "PDM_DATABRICKS_WHEEL": "none"}, "cannot be none"),
                         ({"PDM_DATABRICKS_SERVERLESS": "true"}, "needs PDM_DATABRICKS_RUNNER=pipes"),
                         ({"PDM_DATABRICKS_RUNNER": "pipes", "PDM_DATABRICKS_VOLUME": VOLUME,
                           "PDM_DATABRICKS_SERVERLESS": "true",
                           "PDM_DATABRICKS_SECRETS_JSON": '[{"name": "K", "scope": "s", "key": "k"}]'},
                          "works on a new job cluster only")]:
        with pytest.raises(ValueError, match=message):
            _databricks(**env)

    pipes = _databricks(PDM_DATABRICKS_RUNNER="pipes", PDM_DATABRICKS_VOLUME=VOLUME + "/",
                        PDM_DATABRICKS_CLUSTER_JSON='{"num_workers": 3, "node_type_id": "m5d.large"}',
                        PDM_DATABRICKS_SECRETS_JSON='[{"name": "API_KEY", "scope": "pdm", "key": "api"}]')
    assert pipes.volume == VOLUME and pipes.runner == "pipes" and not pipes.serverless
    assert wheel_uri(pipes) == f"{VOLUME}/wheels/{source_digest(source_root())}/pdm_assets-0.1.0-py3-none-any.whl"
    # The Jobs API's flat cluster spec; a secret is a reference Databricks resolves, never its value.
    assert job_cluster_spec(pipes) == {"spark_version": "17.3.x-scala2.13", "node_type_id": "m5d.large",
                                       "num_workers": 3, "spark_env_vars": {"API_KEY": "{{secrets/pdm/api}}"}}
