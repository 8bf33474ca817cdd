"""The whole graph on a toy data set, as a pull request check: land, ingest, features, labels, train,
register, gate, crown, score, list alerts, judge outcomes, in one run of pipeline_job; and a regime
change in the data's last weeks that the decay check catches and retraining_sensor acts on, once."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from dagster import AssetCheckSeverity, build_sensor_context, instance_for_test

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.partitions import range_tags
from pdm_assets.simulator import RegimeChange, generate
from pdm_assets.simulator.columns import MACHINE_MODELS
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets_tests.assets.helpers import TOY_FLOORS, failure_message

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

FIRST, LAST = date(2015, 1, 1), date(2015, 3, 31)
# From here on every machine's failures are announced by the next component's drift and errors.
CHANGE = RegimeChange(date(2015, 3, 8), MACHINE_MODELS)
DECAY_DAYS = 7


def test_one_run_of_the_whole_graph_lands_trains_crowns_and_scores(spark, pdm_home):
    generate(pdm_home / "landing", machines=30, start=FIRST, days=90, seed=30, progress=False, regime_change=CHANGE)
    settings = Settings.from_env({"PDM_HOME": str(pdm_home), "PDM_START_DATE": "2015-01-01",
                                  "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "toy_pipeline_model",
                                  "PDM_DECAY_DAYS": str(DECAY_DAYS), "PDM_DECAY_BELOW": "3",
                                  "PDM_DECAY_MARGIN": "0.3"})
    defs = build_definitions(settings)
    job = defs.resolve_job_def("pipeline_job")
    # trained and judged before the change: the holdout ends the day before it
    window = {"holdout_start": "2015-02-15", "holdout_end": CHANGE.day.isoformat()}
    run_config = {"ops": {"training_set": {"config": window},
                          "failure_model": {"config": {**TOY_FLOORS, "min_macro_f1": 0.3,
                                                       "hyperparameters": '{"numTrees": 20, "maxDepth": 6}'}}}}
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config, tags=range_tags(FIRST, LAST),
                                        raise_on_error=False)
        assert result.success, failure_message(result)
        sensor = defs.get_sensor_def("retraining_sensor")
        resources = {"mlflow": defs.resources["mlflow"]}
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, resources=resources))
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    checks = {key: e.passed for key, e in evaluations.items()}
    assert checks[("failure_model", "quality_gate")]
    errors = [k for k, passed in checks.items() if not passed and k[1] not in (
        "no_null_features", "labels_final", "feature_drift", "reject_rate", "label_mix_within_bounds", "model_decay")]
    assert errors == []  # every check but the warnings a toy quarter trips, and the decay it must find

    # the regime change: realized event recall falls, the check warns within DECAY_DAYS days of it ...
    decay = evaluations[("prediction_outcomes", "model_decay")]
    assert not decay.passed and decay.severity == AssetCheckSeverity.WARN, decay.description
    first_decayed = date.fromisoformat(decay.metadata["first_decayed_day"].value)
    assert CHANGE.day <= first_decayed <= CHANGE.day + timedelta(days=DECAY_DAYS), decay.description
    # ... and retraining_sensor asks for exactly one training run, not one per tick
    assert len(first.run_requests) == 1 and "model_decay" in first.run_requests[0].tags["pdm/reason"]
    assert again.run_requests == [] and "already requested" in again.skip_message
    mlflow_res = defs.resources["mlflow"]
    champion = str(mlflow_res.champion().version)
    run_files = {f.path for f in mlflow_res.client().list_artifacts(mlflow_res.champion().run_id)}
    assert "realized_weekly.png" in run_files  # realized quality per week, beside the holdout's figures
    predictions = DeltaTableStore.local(settings.warehouse).read(spark, "failure_predictions")
    by_day = {r["date"]: r["model_version"] for r in predictions.select("date", "model_version").distinct().collect()}
    assert len(by_day) == 90 and set(by_day.values()) == {champion}
    rules = {r[0] for r in predictions.select("decision_rule").distinct().collect()}
    assert len(rules) == 1 and rules.pop().startswith("comp1>=")  # the champion's thresholds, on every row

    # the planner's view: alerts are the model's alarms grouped into episodes, continued over days
    store = DeltaTableStore.local(settings.warehouse)
    alerts = store.read(spark, "maintenance_alerts").collect()
    alarmed = {(r["machine_id"], r["predicted_failure"]) for r in
               predictions.where("predicted_failure != 'none'").select("machine_id", "predicted_failure").collect()}
    assert alerts and {(a["machine_id"], a["component"]) for a in alerts} == alarmed
    first_alarm_of = {}
    for a in alerts:  # an episode over several days keeps its first alarm
        assert first_alarm_of.setdefault(a["episode_id"], a["first_alarm_at"]) == a["first_alarm_at"]
    assert any(n > 1 for n in _days_per_episode(alerts).values()), "no episode ran over midnight in a quarter?"
    # realized quality: every day whose labels are final, and not 03-31 (its labels wait for 04-01's failures)
    outcomes = {r["date"]: r for r in store.read(spark, "prediction_outcomes").collect()}
    assert LAST not in outcomes and len(outcomes) == 89 and {r["model_version"] for r in outcomes.values()} == {champion}
    failures = store.read(spark, "raw_failures").where("datetime > '2015-01-01' and datetime <= '2015-03-31'").count()
    assert sum(r["failures"] for r in outcomes.values()) == failures
    assert sum(r["warned"] for r in outcomes.values()) > 0


def _days_per_episode(alerts) -> dict[str, int]:
    days: dict[str, int] = {}
    for a in alerts:
        days[a["episode_id"]] = days.get(a["episode_id"], 0) + 1
    return days
