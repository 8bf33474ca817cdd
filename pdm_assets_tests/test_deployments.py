"""The environment switch: deployment and timeline settings, read once, with clear errors."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from dagster import AssetKey

from pdm_assets.deployments import Settings, utc_today


def test_defaults_are_the_published_year_on_embedded_spark(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path)})
    assert (s.deployment, s.start, s.end, s.last_day()) == ("local", date(2015, 1, 1), date(2016, 1, 1), date(2015, 12, 31))
    assert s.landing_dir == tmp_path / "landing" and s.warehouse == tmp_path / "warehouse"


def test_a_start_alone_gives_a_bounded_year_and_open_gives_a_live_timeline(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path), "PDM_START_DATE": "2020-01-01"})
    assert s.end == date(2020, 12, 31)
    start = utc_today() - timedelta(days=30)
    live = Settings.from_env({"PDM_HOME": str(tmp_path), "PDM_START_DATE": start.isoformat(), "PDM_END_DATE": "open"})
    assert live.end is None and live.last_day() == utc_today() - timedelta(days=1)


def test_spark_remote_alone_selects_spark_connect(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path), "SPARK_REMOTE": "sc://127.0.0.1:15002"})
    assert (s.deployment, s.spark_remote) == ("connect", "sc://127.0.0.1:15002")


@pytest.mark.parametrize("env, message", [
    ({"PDM_DEPLOYMENT": "cloud"}, "PDM_DEPLOYMENT must be one of local, connect, databricks"),
    ({"PDM_DEPLOYMENT": "connect"}, "needs SPARK_REMOTE"),
    ({"PDM_START_DATE": "2015-13-01"}, "PDM_START_DATE must be a date YYYY-MM-DD"),
    ({"PDM_START_DATE": "2015-02-01", "PDM_END_DATE": "2015-01-01"}, "must be after PDM_START_DATE"),
    ({"PDM_CADENCE_HOURS": "three"}, "PDM_CADENCE_HOURS must be a whole number"),
    ({"PDM_DECAY_METRIC": "accuracy"}, "decay metric must be one of event_recall, alarm_precision, macro_f1"),
    ({"PDM_DECAY_DAYS": "3", "PDM_DECAY_BELOW": "5"}, r"decay needs 1 <= K <= N, got K=5, N=3 \(PDM_DECAY_METRIC, PDM_DECAY_DAYS = N"),
])
def test_bad_settings_say_which_variable_is_wrong(tmp_path, env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PDM_HOME": str(tmp_path), **env})


DEPLOYMENT_ENVS = {
    "local": {},
    "connect": {"SPARK_REMOTE": "sc://127.0.0.1:15002"},
    "databricks": {"PDM_DEPLOYMENT": "databricks", "DATABRICKS_HOST": "https://example.cloud.databricks.com",
                   "DATABRICKS_TOKEN": "dapi-test", "PDM_DATABRICKS_CLUSTER_ID": "0101-123456-abcd",
                   "PDM_DATABRICKS_WHEEL": "none"},
}


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENT_ENVS))
def test_the_definitions_load_for_every_deployment_without_starting_anything(deployment, tmp_path, monkeypatch):
    from dagster import Definitions
    from pyspark import SparkContext

    from pdm_assets.deployments import build_definitions

    env = {"PDM_HOME": str(tmp_path), **DEPLOYMENT_ENVS[deployment]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spark_before = SparkContext._active_spark_context
    settings = Settings.from_env(env)
    definitions = build_definitions(settings)
    Definitions.validate_loadable(definitions)
    repository = definitions.get_repository_def()
    assert settings.deployment == deployment
    assert {k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()} >= {
        "raw_machines", "raw_telemetry", "machine_features", "failure_labels", "training_set", "failure_model",
        "failure_predictions"}
    assert {"pipeline_job", "training_job", "scoring_job", "ingest_and_score_job"} <= {
        j.name for j in repository.get_all_jobs()}
    # the same resource keys everywhere: what differs per deployment is what stands behind them
    assert set(repository.get_top_level_resources()) == {
        "spark", "tables", "landing", "table_io_manager", "mlflow", "scoring_model", "step_launcher"}
    assert SparkContext._active_spark_context is spark_before, "loading the definitions must not start Spark"


def test_scoring_jobs_hold_alerts_and_outcomes_and_a_named_challenger_adds_shadow_scoring(tmp_path):
    from pdm_assets.deployments import build_definitions

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
