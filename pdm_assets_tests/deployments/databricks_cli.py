"""What the Databricks end-to-end tests share: the CLI's environment against the emulator, the run's events."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance
from dagster._core.instance.ref import InstanceRef

from pdm_assets_tests.fakes import DatabricksEmulator

TOKEN = "dapi-test-token-123"
DAY = "2015-01-02"
STAGING = "/dagster_staging/pdm_assets"
CLI_TIMEOUT = 600
# A day's raw tables → features → predictions (raw_failures and the labels are not on the way to
# predictions). The machine register and the pre-timeline history are ingested locally first: they
# are whole tables, not a day's data, and two more remote steps would add ~100 s of JVM start-ups.
CHAIN = ("raw_telemetry", "raw_errors", "raw_maint", "machine_features", "failure_predictions")
WHOLE_TABLES = ("raw_machines", "raw_maint_history")
CHAIN_DAYS = ("2015-01-01", DAY)
# The checks a good day must pass, among all the chain's checks that come back.
CHAIN_CHECKS = (("raw_telemetry", "schema_matches_contract"), ("raw_telemetry", "keys_unique"),
                ("machine_features", "one_row_per_machine_and_grid_point"),
                ("failure_predictions", "one_prediction_per_feature_row"),
                ("failure_predictions", "probabilities_valid"))


def small_runtime_conf() -> dict[str, str]:
    """What the emulated runtime configures in every cluster's Spark: Delta Lake (the jars from the local
    cache, as a Databricks runtime bundles them), and Delta's log replay on 2 partitions as the local
    sessions do: Databricks' default of 50 suits a cluster's cores, not a 2-core test machine. The
    JVM maps the machine's class archive (recorded first if missing)."""
    from pdm_assets.storage import delta_jars, jvm_archive
    from pdm_assets.storage.spark_session import JAVA_OPTIONS, LOCAL_DELTA_CONF, driver_identity
    from pdm_assets.tools.record_jvm_archive import record_now

    # Like a runtime image, the emulated one starts its JVM from the machine's class archive when there is one.
    record_now()
    archive = jvm_archive.mapping_options(driver_identity())
    return {**delta_jars.session_conf(), **LOCAL_DELTA_CONF, **({JAVA_OPTIONS: archive} if archive else {})}


def cli_env(api: DatabricksEmulator, home: Path, landing: Path, **overrides: str) -> dict[str, str]:
    """The CLI's environment: no PDM_*/DATABRICKS_* from the caller, the emulator's workspace, a temp instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDM_", "DATABRICKS_", "DAGSTER_"))}
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    # Unity Catalog stand-in: the cluster's session knows the Delta tables under <home>/warehouse/pdm
    # as spark_catalog.pdm.<table>, and creates new ones there (where local runs put theirs too).
    api.extra_env["DATABRICKS_EMULATOR_CATALOG_ROOT"] = str(home / "warehouse")
    env.update(api.env(), DAGSTER_HOME=str(dagster_home), PDM_DEPLOYMENT="databricks", PDM_HOME=str(home),
               PDM_LANDING_DIR=str(landing), PDM_START_DATE="2015-01-01", PDM_END_DATE="2015-01-04",
               PDM_DATABRICKS_CATALOG="spark_catalog", PDM_DATABRICKS_SCHEMA="pdm", PDM_MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
               PDM_MLFLOW_REGISTRY_URI=f"sqlite:///{home / 'mlflow.db'}", PDM_SPARK_MASTER="local[2]",
               PDM_SHUFFLE_PARTITIONS="2", PDM_DATABRICKS_POLL_SECONDS="0.5",
               PDM_DATABRICKS_STAGING_PREFIX=STAGING)
    env.update(overrides)
    return env


def cli_command(select: str, partition: str | None = DAY, partition_range: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pdm_assets.definitions",
               "--select", select]
    if partition_range:
        return command + ["--partition-range", partition_range]
    return command + (["--partition", partition] if partition else [])


def materialize_cli(env: dict[str, str], select: str, partition: str | None = DAY,
                 partition_range: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(select, partition, partition_range), env=env, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT)


def open_instance(env: dict[str, str]) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))


def only_run(instance: DagsterInstance):
    [run] = instance.get_runs()
    return run


def events_of(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> list:
    return [r.event_log_entry.dagster_event for r in instance.get_records_for_run(run_id).records
            if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type == event_type]


def register_champion(spark, env: dict[str, str]) -> str:
    """A decision tree fitted here on made-up feature rows of every class, registered and crowned champion.

    Only its input columns matter to the scoring step under test; training through the launcher would
    need weeks of simulated failures (every class) and two more remote steps.
    """
    import mlflow
    import mlflow.spark
    from pyspark.sql import functions as F

    from pdm_assets.deployments import Settings
    from pdm_assets.deployments.resources import build_resources
    from pdm_assets.pipeline.features import feature_columns
    from pdm_assets.pipeline.labels import LABEL_CLASSES
    from pdm_assets.pipeline.model import ModelConfig, fit_model
    from pdm_assets.pipeline.schemas import MACHINE_MODELS
    from pdm_assets.resources.mlflow import CHAMPION

    columns = feature_columns()
    numeric = [c for c in columns if c != "model"]
    rows = spark.range(60).select(
        F.element_at(F.array(*map(F.lit, LABEL_CLASSES)), (F.col("id") % len(LABEL_CLASSES) + 1).cast("int")).alias("label"),
        F.element_at(F.array(*map(F.lit, MACHINE_MODELS)), (F.col("id") % 4 + 1).cast("int")).alias("model"),
        *[((F.col("id") * (i + 7)) % 23).cast("double" if c != "age" else "int").alias(c) for i, c in enumerate(numeric)],
    )
    model = fit_model(rows, ModelConfig(classifier="decision_tree"), columns, {c: 12 for c in LABEL_CLASSES})
    mlflow_res = build_resources(Settings.from_env(env))["mlflow"]
    experiment_id = mlflow_res.activate()
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.spark.log_model(model, artifact_path="model", registered_model_name=mlflow_res.model_name)
    version = str(info.registered_model_version)
    mlflow_res.client().set_registered_model_alias(mlflow_res.model_name, CHAMPION, version)
    return version


def assert_token_nowhere(api: DatabricksEmulator, env: dict[str, str], output: str) -> None:
    """The token is in no request body, no file of the Dagster instance (event log, runs and their
    config, captured compute logs) and not in the CLI's output."""
    assert api.request_bodies and not [body for body in api.request_bodies if TOKEN.encode() in body]
    files = [p for p in Path(env["DAGSTER_HOME"]).rglob("*") if p.is_file()]
    assert [p for p in files if p.suffix in (".out", ".err")], "no captured compute logs to look at"
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in output


def local_mlflow(home: Path) -> dict[str, str]:
    """MLflow tracking and registry in the home's SQLite file, for both sides."""
    from pdm_assets.resources.mlflow import local_mlflow_uris

    uri, _ = local_mlflow_uris(home)
    return {"PDM_MLFLOW_TRACKING_URI": uri, "PDM_MLFLOW_REGISTRY_URI": uri}


def prepare_chain(env: dict[str, str], spark) -> str:
    """What the chain needs first, done here: the whole tables ingested and a champion registered (its version)."""
    from dagster import AssetSelection, materialize

    from pdm_assets.definitions import build_definitions
    from pdm_assets.deployments import Settings

    local = build_definitions(Settings.from_env({**env, "PDM_DEPLOYMENT": "local"}))
    with DagsterInstance.ephemeral() as scratch:
        assert materialize(list(local.assets), selection=AssetSelection.assets(*WHOLE_TABLES),
                           resources=local.resources, instance=scratch).success
    return register_champion(spark, env)


def assert_chain_recorded(env: dict[str, str], version: str) -> dict:
    """The chain's run succeeded in the local instance with every day of every asset and every check, the
    blocking ones passed, and each day's predictions name the model version: the materializations by (asset, day)."""
    from dagster import DagsterRunStatus

    with open_instance(env) as instance:
        run = only_run(instance)
        materialized = {(e.asset_key.to_user_string(), e.partition): e.event_specific_data.materialization
                        for e in events_of(instance, run.run_id, DagsterEventType.ASSET_MATERIALIZATION)}
        checks = {(c.asset_key.to_user_string(), c.check_name): c for c in (
            e.event_specific_data for e in events_of(instance, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION))}
    assert run.status == DagsterRunStatus.SUCCESS
    assert set(materialized) == {(asset, day) for asset in CHAIN for day in CHAIN_DAYS}
    assert {asset for asset, _ in checks} == set(CHAIN)
    for name in CHAIN_CHECKS:
        assert checks[name].passed, (name, checks[name].metadata)
    for day in CHAIN_DAYS:  # which model scored which day, in the local instance
        scored = materialized[("failure_predictions", day)].metadata
        assert scored["model_version"].value == version and scored["dagster/row_count"].value == 3 * 8
    return materialized


def interrupt_while_running(api: DatabricksEmulator, env: dict[str, str], select: str) -> str:
    """Start the CLI on an unpartitioned selection, Ctrl-C it once its remote run is RUNNING; its output."""
    import signal
    import time

    cli = subprocess.Popen(cli_command(select, None), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(api.run(r)["state"]["life_cycle_state"] == "RUNNING" for r in list(api.jobs.runs)):
            assert cli.poll() is None, cli.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no remote run started"
            time.sleep(0.1)
        time.sleep(1.0)  # the client is polling runs/get by now
        cli.send_signal(signal.SIGINT)
        output, _ = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    return output


def assert_cancelled(api: DatabricksEmulator, output: str) -> None:
    """The interrupt reached Databricks: runs/cancel was called and the one run ended CANCELED."""
    assert any(path.endswith("/jobs/runs/cancel") for method, path in api.requests if method == "POST"), output[-3000:]
    [run_id] = api.jobs.runs
    assert api.wait_for_run(run_id, timeout=30)["state"]["result_state"] == "CANCELED"
