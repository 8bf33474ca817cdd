"""The map: the definitions load for every deployment, and what they hold matches a plain snapshot.

When a change to assets, checks, jobs, schedules or sensors is meant, rewrite the snapshot with
`python -m pdm_assets_tests.test_definitions` and review its diff with the change.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions

from pdm_assets.definitions import build_definitions
from pdm_assets.deployments import Settings

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


DEPLOYMENT_ENVS = {
    "local": {},
    "connect": {"SPARK_REMOTE": "sc://127.0.0.1:15002"},
    "databricks": {"PDM_DEPLOYMENT": "databricks", "DATABRICKS_HOST": "https://example.cloud.databricks.com",
                   "DATABRICKS_TOKEN": "dapi-test", "PDM_DATABRICKS_CLUSTER_ID": "0101-123456-abcd",
                   "PDM_DATABRICKS_WHEEL": "none"},
    "databricks-pipes": {"PDM_DEPLOYMENT": "databricks", "DATABRICKS_HOST": "https://example.cloud.databricks.com",
                         "DATABRICKS_TOKEN": "dapi-test", "PDM_DATABRICKS_RUNNER": "pipes",
                         "PDM_DATABRICKS_VOLUME": "/Volumes/main/pdm/staging", "PDM_DATABRICKS_SERVERLESS": "true"},
}


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENT_ENVS))
def test_the_definitions_load_for_every_deployment_without_starting_anything(deployment, tmp_path, monkeypatch):
    from pyspark import SparkContext

    env = {"PDM_HOME": str(tmp_path), **DEPLOYMENT_ENVS[deployment]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spark_before = SparkContext._active_spark_context
    settings = Settings.from_env(env)
    definitions = build_definitions(settings)
    Definitions.validate_loadable(definitions)
    repository = definitions.get_repository_def()
    assert settings.deployment == deployment.split("-")[0]
    assert {k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()} >= {
        "raw_machines", "raw_telemetry", "machine_features", "failure_labels", "training_set", "failure_model",
        "failure_predictions"}
    assert {"pipeline_job", "training_job", "scoring_job", "ingest_and_score_job"} <= {
        j.name for j in repository.get_all_jobs()}
    # the same resource keys everywhere: what differs per deployment is what stands behind them
    assert set(repository.get_top_level_resources()) == {
        "spark", "tables", "landing", "table_io_manager", "mlflow", "scoring_model", "step_launcher",
        "databricks_pipes"}
    assert SparkContext._active_spark_context is spark_before, "loading the definitions must not start Spark"


def test_scoring_jobs_hold_alerts_and_outcomes_and_a_named_challenger_adds_shadow_scoring(tmp_path):
    plain = build_definitions(Settings.from_env({"PDM_HOME": str(tmp_path)}))
    shadowed = build_definitions(Settings.from_env({"PDM_HOME": str(tmp_path), "PDM_CHALLENGER": "challenger"}))

    def keys(defs, job=None) -> set[str]:
        repository = defs.get_repository_def()
        if job is None:
            return {k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()}
        return {k.to_user_string() for k in repository.get_job(job).asset_layer.selected_asset_keys}

    assert "challenger_predictions" not in keys(plain)
    # the landing sensor's job (its range starts a day early): the new day scored, the day before judged
    assert {"failure_predictions", "maintenance_alerts", "prediction_outcomes"} <= keys(plain, "ingest_and_score_job")
    assert "challenger_predictions" in keys(shadowed, "scoring_job") and "challenger_predictions" in keys(shadowed)
    upstream = shadowed.get_repository_def().asset_graph.get(AssetKey("prediction_outcomes")).parent_keys
    assert AssetKey("challenger_predictions") in upstream


def described(defs: Definitions) -> dict:
    """Asset keys with their group, checks, jobs with their assets, schedules and sensors: plain JSON."""
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assets = {key.to_user_string(): _asset(graph.get(key)) for key in sorted(graph.get_all_asset_keys())}
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    jobs = {job.name: sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
            for job in sorted(repository.get_all_jobs(), key=lambda j: j.name) if not job.name.startswith("__")}
    schedules = {s.name: {"cron": s.cron_schedule, "job": s.job_name, "status": s.default_status.value}
                 for s in sorted(repository.schedule_defs, key=lambda s: s.name)}
    sensors = {s.name: {"jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
                        "status": s.default_status.value}
               for s in sorted(repository.sensor_defs, key=lambda s: s.name)}
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def _asset(node) -> dict:
    """What a reviewer should see change: group, upstream, kinds, run policy, resources, IO manager, tags."""
    definition = node.assets_def
    return {"group": node.group_name, "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds), "partitioned": definition.partitions_def is not None,
            "backfill": str(node.backfill_policy) if node.backfill_policy else None,
            "resources": sorted(definition.required_resource_keys),
            "io_manager": definition.get_io_manager_key_for_asset_key(node.key),
            "op_tags": dict(sorted((definition.op.tags or {}).items()))}


def _default_definitions(home: Path) -> Definitions:
    return build_definitions(Settings.from_env({"PDM_HOME": str(home)}))


def test_the_definitions_match_the_snapshot(tmp_path):
    expected = json.loads(SNAPSHOT.read_text())
    actual = described(_default_definitions(tmp_path))
    for part in expected:
        assert actual[part] == expected[part], (
            f"the definitions' {part} changed; if that is meant, run `python -m pdm_assets_tests.test_definitions` "
            "and commit the new snapshot")
    assert set(actual) == set(expected)


def test_every_spark_asset_runs_once_per_range_and_can_be_sent_to_a_cluster(tmp_path):
    graph = _default_definitions(tmp_path).get_repository_def().asset_graph
    spark_assets = [graph.get(k) for k in graph.get_all_asset_keys() if "spark" in graph.get(k).kinds]
    assert len(spark_assets) == len(list(graph.get_all_asset_keys())) == 13
    for node in spark_assets:
        assert str(node.backfill_policy) == "BackfillPolicy.single_run()", node.key
        assert "step_launcher" in node.assets_def.required_resource_keys, node.key


def test_the_definitions_import_nothing_that_stays_off_the_cluster(tmp_path):
    # tools/ is left out of the code zip and the wheel sent to Databricks: the cluster must not need it
    code = ("import sys, pdm_assets.definitions;"
            "bad = sorted(m for m in sys.modules if m.startswith('pdm_assets.tools'));"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PDM_HOME": str(tmp_path)})


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        SNAPSHOT.write_text(json.dumps(described(_default_definitions(Path(home))), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
