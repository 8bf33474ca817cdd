"""PDM_DEPLOYMENT=databricks end to end: the real step launcher, driven by the CLI, against the emulator.

Each remote step starts its own local Spark in an emulator subprocess (~15 s), so the tests keep
to few steps: a day's raw tables → features → predictions for two days succeed in one run of three
remote steps (with the project wheel built and uploaded, and a model registered here); raw_machines
fails remotely; a wrong token fails before anything runs; an interrupt cancels the remote run.
"""
from __future__ import annotations

import pickle
import time
import zipfile
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRunStatus

from pdm_assets_tests.deployments.databricks_cli import (
    CHAIN, CHAIN_DAYS, DAY, STAGING, TOKEN, assert_cancelled, assert_chain_recorded, assert_token_nowhere, cli_env,
    events_of, interrupt_while_running, local_mlflow, materialize_cli, only_run, open_instance, prepare_chain,
)
from pdm_assets_tests.fakes import DatabricksEmulator


@pytest.mark.filterwarnings("ignore:.*superseded")
@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_raw_to_predictions_run_on_the_emulated_cluster(api: DatabricksEmulator, tmp_path: Path, landing: Path,
                                                        spark) -> None:
    """`dagster asset materialize` of a day's raw tables → features → predictions, every step on the "cluster"."""
    home = tmp_path / "home"
    env = cli_env(api, home, landing, **local_mlflow(home))
    version = prepare_chain(env, spark)
    started = time.monotonic()

    done = materialize_cli(env, ",".join(CHAIN), partition=None, partition_range=f"{CHAIN_DAYS[0]}...{DAY}")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert_chain_recorded(env, version)
    with open_instance(env) as instance:
        run = only_run(instance)
    # The rows were written by the remote steps as Delta tables (by name, as on Unity Catalog), with their lineage.
    from pdm_assets.storage.delta_store import DeltaTableStore

    written = DeltaTableStore.local(home / "warehouse").read(spark, "failure_predictions")
    assert written.count() == 2 * 3 * 8
    assert {tuple(r) for r in written.select("model_name", "model_version").distinct().collect()} == {
        ("pdm_failure_model", version)}

    # One Databricks run per Spark step, each with the package, the step and the config staged on DBFS.
    steps = ("raw_events", "machine_features", "failure_predictions")
    assert len(api.submitted_runs) == len(steps)
    for step_key in steps:
        staged = api.dbfs_path(f"{STAGING}/{run.run_id}/{step_key}")
        assert {"databricks_step_main.py", "code.zip", "step_run_ref.pkl", "config.pkl"} <= {
            p.name for p in staged.iterdir()}
    names = zipfile.ZipFile(api.dbfs_path(f"{STAGING}/{run.run_id}/raw_events/code.zip")).namelist()
    assert "pdm_assets/definitions.py" in names and "pdm_assets/deployments/databricks.py" in names
    assert all(n.startswith("pdm_assets/") for n in names) and not any("__pycache__" in n for n in names)
    assert "pdm_assets/deployments/step_launcher.py" in names
    assert not any(n.startswith("pdm_assets/tools/") for n in names)  # local commands stay local
    config = pickle.loads(api.dbfs_path(f"{STAGING}/{run.run_id}/raw_events/config.pkl").read_bytes())
    assert config.env_variables["PDM_HOME"] == str(home)
    assert config.env_variables["PDM_DATABRICKS_CATALOG"] == "spark_catalog" and config.secrets == []
    libraries = api.submitted_runs[0]["tasks"][0]["libraries"]
    packages = {lib["pypi"]["package"] for lib in libraries if "pypi" in lib}
    assert {"dagster==1.13.27", "dagster-databricks==0.29.27", "mlflow==3.17.2"} <= packages
    assert not any(p.startswith("pyspark") for p in packages)  # the runtime brings its own Spark
    # The project wheel: built from this source tree, uploaded under a digest of the sources.
    [wheel_uri] = [lib["whl"] for lib in libraries if "whl" in lib]
    assert wheel_uri.startswith(f"dbfs:{STAGING}/wheels/") and wheel_uri.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(api.dbfs_path(wheel_uri.removeprefix("dbfs:"))) as wheel:
        wheel_files = wheel.namelist()
    assert "pdm_assets/definitions.py" in wheel_files and "pdm_assets/pipeline/features.py" in wheel_files
    assert any(n.endswith(".dist-info/METADATA") for n in wheel_files)
    # The token is only ever read from the environment: not in staged files, not in the logs.
    for path in api.dbfs_path(STAGING).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert_token_nowhere(api, env, done.stdout + done.stderr)
    print(f"\n[databricks e2e] {len(steps)} remote steps took {time.monotonic() - started:.0f}s")


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_a_remote_failure_fails_the_local_run_with_the_remote_error(api: DatabricksEmulator, tmp_path: Path) -> None:
    empty = tmp_path / "empty_landing"
    empty.mkdir()
    env = cli_env(api, tmp_path / "home", empty, PDM_DATABRICKS_WHEEL="none")

    done = materialize_cli(env, "raw_machines", partition=None)

    assert done.returncode != 0
    with open_instance(env) as instance:
        run = only_run(instance)
        assert run.status == DagsterRunStatus.FAILURE
        failures = events_of(instance, run.run_id, DagsterEventType.STEP_FAILURE)
    [failure] = failures
    error = failure.event_specific_data.error
    text = error.to_string() if hasattr(error, "to_string") else str(error)
    assert "MissingLandingFileError" in text and "machines" in text, text
    assert len(api.submitted_runs) == 1  # it did run remotely


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_a_wrong_token_fails_with_an_authentication_error(api: DatabricksEmulator, tmp_path: Path,
                                                          landing: Path) -> None:
    env = cli_env(api, tmp_path / "home", landing, DATABRICKS_TOKEN="not-the-token", PDM_DATABRICKS_WHEEL="none")

    done = materialize_cli(env, "raw_machines", partition=None)

    assert done.returncode != 0
    with open_instance(env) as instance:
        run = only_run(instance)
        [failure] = events_of(instance, run.run_id, DagsterEventType.STEP_FAILURE)
    text = failure.event_specific_data.error.to_string()
    assert "Invalid access token" in text, text
    assert api.submitted_runs == [] and api.requests == []
    assert "not-the-token" not in done.stdout + done.stderr


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_interrupting_the_cli_cancels_the_databricks_run(api: DatabricksEmulator, tmp_path: Path,
                                                         landing: Path) -> None:
    env = cli_env(api, tmp_path / "home", landing, PDM_DATABRICKS_WHEEL="none")
    output = interrupt_while_running(api, env, "raw_machines")

    assert_cancelled(api, output)
    with open_instance(env) as instance:
        assert only_run(instance).status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)


# ---- settings and configuration (no Spark, no subprocess) ---------------------------------------
def _settings(**env: str):
    from pdm_assets.deployments import Settings

    return Settings.from_env({"PDM_DEPLOYMENT": "databricks", "PDM_HOME": "/tmp/pdm", **env})


def test_tables_are_unity_catalog_delta_tables_and_parquet_is_gone() -> None:
    from pdm_assets.deployments.resources import build_resources

    tables = build_resources(_settings(PDM_DATABRICKS_CATALOG="ml", PDM_DATABRICKS_SCHEMA="pdm_prod"))["tables"]
    store = tables.store()
    assert not store.readable_without_spark("failure_predictions")
    assert store.name("failure_predictions") == store.where("failure_predictions") == "ml.pdm_prod.failure_predictions"
    with pytest.raises(ValueError, match="PDM_TABLE_FORMAT=parquet: every deployment now writes Delta Lake"):
        _settings(PDM_TABLE_FORMAT="parquet")


def test_cluster_libraries_and_mlflow_defaults() -> None:
    from pdm_assets.deployments.resources import build_resources
    from pdm_assets.deployments.databricks import launcher_config

    new = _settings(PDM_DATABRICKS_CLUSTER_JSON='{"num_workers": 2, "instance_pool_id": "pool-1", '
                                                    '"spark_conf": {"spark.sql.shuffle.partitions": "64"}}')
    cluster = launcher_config(new.databricks)["run_config"]["cluster"]["new"]
    assert cluster["size"] == {"num_workers": 2}
    assert cluster["nodes"] == {"instance_pool": {"instance_pool_id": "pool-1"}}
    assert cluster["spark_version"] and cluster["spark_conf"] == {"spark.sql.shuffle.partitions": "64"}

    existing = _settings(PDM_DATABRICKS_CLUSTER_ID="0101-abc",
                         PDM_DATABRICKS_WHEEL="/tmp/dist/pdm_assets-0.1.0-py3-none-any.whl",
                         PDM_DATABRICKS_SECRETS_JSON='[{"name": "API_KEY", "scope": "pdm", "key": "api"}]')
    config = launcher_config(existing.databricks)
    assert config["run_config"]["cluster"] == {"existing": "0101-abc"}
    assert config["run_config"]["libraries"][-1] == {
        "whl": "dbfs:/dagster_staging/pdm_assets/wheels/pdm_assets-0.1.0-py3-none-any.whl"}
    assert config["secrets_to_env_variables"] == [{"name": "API_KEY", "scope": "pdm", "key": "api"}]
    assert config["databricks_host"] == {"env": "DATABRICKS_HOST"}
    assert config["databricks_token"] == {"env": "DATABRICKS_TOKEN"}

    mlflow = build_resources(new)["mlflow"]
    assert (mlflow.tracking_uri, mlflow.registry_uri, mlflow.model_name) == (
        "databricks", "databricks-uc", "main.pdm.pdm_failure_model")
    local = build_resources(_settings(PDM_MLFLOW_TRACKING_URI="sqlite:////tmp/m.db",
                                      PDM_DATABRICKS_CATALOG="ml"))["mlflow"]
    assert (local.registry_uri, local.model_name) == ("", "pdm_failure_model")


@pytest.mark.slow  # the emulator's clusters are Spark processes
def test_a_local_wheel_is_uploaded_when_the_launcher_starts(api: DatabricksEmulator, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster

    from pdm_assets.deployments.resources import build_resources

    for name, value in api.env().items():
        monkeypatch.setenv(name, value)
    wheel = tmp_path / "pdm_assets-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK-not-really-a-wheel")
    launcher_def = build_resources(_settings(PDM_DATABRICKS_WHEEL=str(wheel)))["step_launcher"]

    with dagster.build_resources({"step_launcher": launcher_def}) as resources:
        staged = Path(resources.step_launcher.local_dagster_job_package_path)
        assert [p.name for p in staged.iterdir()] == ["pdm_assets"]
    uploaded = api.dbfs_path(f"/dagster_staging/pdm_assets/wheels/{wheel.name}")
    assert uploaded.read_bytes() == wheel.read_bytes()
    assert not staged.exists()  # the staged copy of the package is removed when the run ends


def test_the_wheel_is_built_from_this_source_tree_under_a_digest_of_it() -> None:
    from pdm_assets.deployments.databricks import launcher_config
    from pdm_assets.deployments.wheel import source_digest, source_root

    root = source_root()
    assert root is not None  # the tests run from the (editable) source tree
    default = launcher_config(_settings().databricks)["run_config"]["libraries"]
    assert [lib["whl"] for lib in default if "whl" in lib] == [
        f"dbfs:{STAGING}/wheels/{source_digest(root)}/pdm_assets-0.1.0-py3-none-any.whl"]
    without = _settings(PDM_DATABRICKS_WHEEL="none").databricks
    assert not any("whl" in lib for lib in launcher_config(without)["run_config"]["libraries"])


def test_the_source_digest_follows_the_code_and_ignores_caches(tmp_path: Path) -> None:
    from pdm_assets.deployments.wheel import copy_shipped_package, source_digest

    (tmp_path / "pdm_assets").mkdir()
    (tmp_path / "pyproject.toml").write_text('version = "0.1.0"\n')
    module = tmp_path / "pdm_assets" / "module.py"
    module.write_text("X = 1\n")
    first = source_digest(tmp_path)
    (tmp_path / "pdm_assets" / "__pycache__").mkdir()
    (tmp_path / "pdm_assets" / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\0")
    assert source_digest(tmp_path) == first
    (tmp_path / "pdm_assets" / "tools").mkdir()  # local commands never ship: editing them changes nothing
    (tmp_path / "pdm_assets" / "tools" / "demo.py").write_text("print('hi')\n")
    assert source_digest(tmp_path) == first
    (tmp_path / "pdm_assets" / ".pytest_cache").mkdir()
    (tmp_path / "pdm_assets" / ".pytest_cache" / "lastfailed").write_text("{}")
    assert source_digest(tmp_path) == first
    # the copy that goes into the wheel holds exactly the files the digest is taken over
    copied = copy_shipped_package(tmp_path / "pdm_assets", tmp_path / "copy" / "pdm_assets")
    assert sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()) == ["module.py"]
    module.write_text("X = 2\n")
    assert source_digest(tmp_path) != first
