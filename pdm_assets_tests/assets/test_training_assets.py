"""Training assets on a small simulated quarter: MLflow run, registry, champion alias, quality gate."""
from __future__ import annotations

from datetime import date

import pytest

from pdm_assets.pipeline.features import feature_columns
from pdm_assets.pipeline.decision import DecisionRule
from pdm_assets.pipeline.evaluation import judge
from pdm_assets.pipeline.model import ModelConfig, feature_importances, fit_model
from pdm_assets.pipeline.training import HOLDOUT, TRAIN, class_counts
from pdm_assets.resources.mlflow import CHAMPION, ModelNotFoundError
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.resources.mlflow import log_training
from pdm_assets_tests.assets.helpers import check_outcomes, failure_message, metadata, train

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

SMALL_FOREST = '{"numTrees": 20, "maxDepth": 6}'


def test_training_tracks_registers_and_crowns_a_fitted_pipeline(labelled):
    defs, instance, settings = labelled
    # Any tolerance: other modules may have crowned a model already; this test is about crowning.
    result = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.3, "champion_tolerance": 1.0})
    assert result.success, failure_message(result)
    assert check_outcomes(result)[("failure_model", "quality_gate")]
    split = metadata(result, "training_set")
    assert split["window"] == "train 2015-01-01..2015-02-13, tune 2015-02-14..2015-02-28, holdout 2015-03-01..2015-03-30"
    assert split["newest_final_day"] == "2015-03-30"  # March 31's labels wait for April's failures
    assert all(n > 0 for n in split["train_label_counts"].values())
    meta = metadata(result, "failure_model")
    assert meta["champion_version"] == meta["model_version"]
    assert "| **comp1** |" in meta["confusion_matrix"] and meta["mlflow_run"].startswith("http")

    mlflow_res = defs.resources["mlflow"]
    run = mlflow_res.client().get_run(meta["mlflow_run_id"])
    for name in ("macro_f1", "accuracy", "precision_comp1", "recall_comp4", "f1_none"):
        assert name in run.data.metrics
    assert run.data.metrics["macro_f1"] == pytest.approx(meta["macro_f1"], abs=1e-4)
    for name in ("event_recall", "event_alarm_precision", "event_lead_median_h", "event_false_episodes_per_machine_month"):
        assert name in run.data.metrics, name
    assert run.data.params["training_window"] == (
        "train 2015-01-01..2015-02-13, tune 2015-02-14..2015-02-28, holdout 2015-03-01..2015-03-30")
    assert run.data.params["trained_through"] == "2015-02-28"
    artifacts = {a.path for a in mlflow_res.client().list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "confusion_matrix.json", "feature_importances.json", "decision_rule.json",
            "alarm_tradeoff.png"} <= artifacts
    rule = mlflow_res.decision_rule(run.info.run_id)
    assert rule.describe() == meta["decision_rule"] and set(rule.thresholds) == {"comp1", "comp2", "comp3", "comp4"}
    assert meta["events_summary"].startswith("event recall ") and "| comp1 |" in meta["events"]
    assert str(mlflow_res.champion().version) == meta["model_version"]

    import mlflow.spark

    model = mlflow.spark.load_model(f"models:/{mlflow_res.model_name}@{CHAMPION}")
    kinds = [type(s).__name__ for s in model.stages]  # every stage fitted: nothing left to fit at scoring
    assert kinds == ["StringIndexerModel", "ImputerModel", "VectorAssembler",
                     "RandomForestClassificationModel", "IndexToString"]


def test_the_gate_refuses_a_worse_model_and_keeps_the_champion(labelled):
    defs, instance, _ = labelled
    mlflow_res = defs.resources["mlflow"]
    if mlflow_res.champion() is None:  # run alone: crown a first model
        first = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.3})
        assert first.success, failure_message(first)
    champion = str(mlflow_res.champion().version)
    stump = train(defs, instance, {"classifier": "decision_tree", "hyperparameters": '{"maxDepth": 1}',
                                    "min_macro_f1": 0.0}, selection="key:failure_model")
    assert check_outcomes(stump)[("failure_model", "quality_gate")] is False
    evaluation = next(e for e in stump.get_asset_check_evaluations() if e.check_name == "quality_gate")
    assert "worse than the champion's" in evaluation.description
    assert str(mlflow_res.champion().version) == champion
    refused = evaluation.metadata["candidate_version"].value
    assert refused != champion
    assert mlflow_res.client().get_model_version(mlflow_res.model_name, refused).tags["quality_gate"] == "failed"


def test_configuration_errors_fail_with_clear_messages(labelled):
    defs, instance, _ = labelled
    unknown = train(defs, instance, {"classifier": "xgboost"}, selection="key:failure_model")
    assert not unknown.success and "Unknown classifier 'xgboost'" in failure_message(unknown)
    late = train(defs, instance, {}, window={"holdout_start": "2015-06-01"}, selection="key:training_set")
    assert not late.success and "after the last day with final labels 2015-03-30" in failure_message(late)
    tiny = train(defs, instance, {}, window={"holdout_start": "2015-01-03", "holdout_end": "2015-03-01",
                                             "tuning_share": 0.0})
    assert not tiny.success
    assert "The training window has no rows of class(es) comp1, comp2, comp3, comp4" in failure_message(tiny)


def test_a_fitted_pipeline_round_trips_through_mlflow_with_the_same_predictions(labelled, spark, tmp_path):
    defs, instance, settings = labelled
    assert train(defs, instance, {}, selection="key:training_set").success
    rows = DeltaTableStore.local(settings.warehouse).read(spark, "training_set")
    train_rows, holdout = rows.where(rows.split == TRAIN), rows.where(rows.split == HOLDOUT)
    columns = feature_columns(settings.features)
    model = fit_model(train_rows, ModelConfig(params={"numTrees": 10, "maxDepth": 5}), columns, class_counts(rows)[TRAIN])
    mlflow_res = defs.resources["mlflow"].model_copy(update={"model_name": "round_trip_model"})
    with pytest.raises(ModelNotFoundError, match="No registered model 'round_trip_model'"):
        mlflow_res.resolve()
    judged = judge(model, DecisionRule(), holdout, [], date(2015, 3, 1), date(2015, 3, 31), 24)
    logged = log_training(model, "round_trip_model", mlflow_res.activate(), {"case": "round trip"},
                          judged.rows, feature_importances(model), train_rows.select(*columns), {})
    with pytest.raises(ModelNotFoundError, match="'round_trip_model' has no 'champion' alias"):
        mlflow_res.resolve()
    mlflow_res.client().set_registered_model_alias("round_trip_model", CHAMPION, logged.version)
    import mlflow.spark

    loaded = mlflow.spark.load_model("models:/round_trip_model@champion")
    keys = ["machine_id", "timestamp"]
    before = model.transform(holdout).select(*keys, "predicted_failure", "probability").orderBy(*keys).collect()
    after = loaded.transform(holdout).select(*keys, "predicted_failure", "probability").orderBy(*keys).collect()
    assert before == after and len(before) == holdout.count() > 0


def test_a_champion_that_learned_from_the_holdout_is_not_compared_on_it(labelled):
    defs, instance, _ = labelled
    mlflow_res = defs.resources["mlflow"]
    if mlflow_res.champion() is None:
        assert train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.3}).success
    # the champion learned from January-February; this holdout is February: only the floors can judge
    early = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.0},
                  window={"holdout_start": "2015-02-01", "holdout_end": "2015-03-01", "tuning_share": 0.0})
    gate = next(e for e in early.get_asset_check_evaluations() if e.check_name == "quality_gate")
    assert "which covers this holdout" in gate.metadata["comparison"].value and "only the floors apply" in \
        gate.metadata["comparison"].value
    assert "champion_macro_f1" not in gate.metadata


def test_a_champion_that_cannot_be_loaded_fails_the_gate_with_its_error(labelled):
    import shutil
    from urllib.parse import urlparse

    from pdm_assets.deployments import Settings
    from pdm_assets.definitions import build_definitions

    _, instance, settings = labelled
    defs = build_definitions(Settings.from_env({"PDM_HOME": str(settings.home), "PDM_START_DATE": "2015-01-01",
                                                "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "broken_champion"}))
    first = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.3})
    assert first.success, failure_message(first)
    mlflow_res = defs.resources["mlflow"]
    champion = mlflow_res.champion()
    stored = urlparse(mlflow_res.client().get_model_version_download_uri("broken_champion", champion.version)).path
    shutil.rmtree(stored)  # the champion's files are gone (a cleaned-up artifact store)
    second = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.0}, selection="key:failure_model")
    gate = next(e for e in second.get_asset_check_evaluations() if e.check_name == "quality_gate")
    assert gate.passed is False
    assert f"the champion v{champion.version} could not be loaded to compare with" in gate.description
    assert str(mlflow_res.champion().version) == str(champion.version)  # the alias stays where it was
