"""The whole graph on a toy data set, as a pull request check: land, ingest, features, labels, train,
register, gate, crown, score, in one run of pipeline_job."""
from __future__ import annotations

from datetime import date

from dagster import instance_for_test

from pdm_assets.deployments import Settings, build_definitions
from pdm_assets.partitions import range_tags
from pdm_assets.simulator import generate
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets_tests.assets.helpers import TOY_FLOORS, failure_message

FIRST, LAST = date(2015, 1, 1), date(2015, 3, 31)


def test_one_run_of_the_whole_graph_lands_trains_crowns_and_scores(spark, pdm_home):
    generate(pdm_home / "landing", machines=10, start=FIRST, days=90, seed=30, progress=False)
    settings = Settings.from_env({"PDM_HOME": str(pdm_home), "PDM_START_DATE": "2015-01-01",
                                  "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "toy_pipeline_model"})
    job = build_definitions(settings).resolve_job_def("pipeline_job")
    run_config = {"ops": {"training_set": {"config": {"holdout_start": "2015-03-01"}},
                          "failure_model": {"config": {**TOY_FLOORS, "min_macro_f1": 0.3,
                                                       "hyperparameters": '{"numTrees": 20, "maxDepth": 6}'}}}}
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config, tags=range_tags(FIRST, LAST),
                                        raise_on_error=False)
    assert result.success, failure_message(result)
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("failure_model", "quality_gate")]
    errors = [k for k, passed in checks.items() if not passed and k[1] not in (
        "no_null_features", "labels_final", "feature_drift", "reject_rate", "label_mix_within_bounds")]
    assert errors == []  # every check but the warnings a toy quarter trips
    mlflow_res = build_definitions(settings).resources["mlflow"]
    champion = str(mlflow_res.champion().version)
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
