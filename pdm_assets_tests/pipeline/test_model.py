"""Model configuration, class weights, metrics and the gate decision: hand-checked numbers."""
from __future__ import annotations

import pytest

from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.model import (
    GateFloors, ModelConfig, ModelConfigError, TrainingDataError, class_weights, evaluation_from_counts, gate_decision,
    require_every_class,
)


def test_unknown_classifier_parameter_or_weighting_is_refused_naming_the_choices():
    with pytest.raises(ModelConfigError, match="Unknown classifier 'xgboost'; choose one of random_forest"):
        ModelConfig("xgboost")
    with pytest.raises(ModelConfigError, match="random_forest has no parameter.s. numTress"):
        ModelConfig("random_forest", {"numTress": 10})
    with pytest.raises(ModelConfigError, match="class_weighting 'heavy'"):
        ModelConfig(class_weighting="heavy")
    assert ModelConfig("gbt_one_vs_rest", {"maxIter": 5}).hyperparameters()["maxIter"] == 5


def test_class_weights_balance_the_totals():
    counts = {"none": 90, "comp1": 10}
    balanced = class_weights(counts, "balanced")
    assert balanced == {"none": 100 / (2 * 90), "comp1": 100 / (2 * 10)}
    assert balanced["none"] * 90 == pytest.approx(balanced["comp1"] * 10)
    assert class_weights(counts, "sqrt_balanced")["comp1"] == pytest.approx(5 ** 0.5)
    assert class_weights(counts, "none") == {"none": 1.0, "comp1": 1.0}


def test_a_class_missing_from_training_is_named():
    counts = {"none": 100, "comp1": 3, "comp2": 0, "comp3": 2, "comp4": 1}
    with pytest.raises(TrainingDataError, match="no rows of class.es. comp2 .none=100, comp1=3, comp2=0"):
        require_every_class(counts, "training window")


def test_metrics_from_a_hand_made_confusion_matrix():
    cells = {("none", "none"): 90, ("none", "comp1"): 2, ("comp1", "comp1"): 6, ("comp1", "none"): 2,
             ("comp2", "comp2"): 4, ("comp3", "comp3"): 1, ("comp3", "comp4"): 1, ("comp4", "comp4"): 2}
    e = evaluation_from_counts(cells)
    assert e.rows == 108
    assert e.confusion[0] == [90, 2, 0, 0, 0] and e.confusion[1] == [2, 6, 0, 0, 0]
    assert e.precision["comp1"] == pytest.approx(6 / 8) and e.recall["comp1"] == pytest.approx(6 / 8)
    assert e.recall["comp3"] == 0.5 and e.precision["comp3"] == 1.0
    assert e.precision["comp4"] == pytest.approx(2 / 3) and e.recall["comp4"] == 1.0
    f1 = {"none": 2 * (90 / 92) * (90 / 92) / (2 * 90 / 92), "comp1": 0.75, "comp2": 1.0,
          "comp3": 2 * 0.5 / 1.5, "comp4": 2 * (2 / 3) / (5 / 3)}
    assert e.f1 == pytest.approx(f1)
    assert e.macro_f1 == pytest.approx(sum(f1.values()) / 5)
    assert e.accuracy == pytest.approx(103 / 108)
    assert e.metrics()["recall_comp3"] == 0.5
    assert e.confusion_markdown().splitlines()[0] == "| actual \\ predicted | " + " | ".join(LABEL_CLASSES) + " |"


def test_a_class_absent_from_the_holdout_is_reported_not_scored_zero():
    e = evaluation_from_counts({("none", "none"): 50, ("comp1", "comp1"): 5, ("comp2", "comp2"): 4,
                                ("comp3", "comp3"): 3, ("none", "comp4"): 1})  # no comp4 failure in the holdout
    assert e.absent == ("comp4",) and e.recall["comp4"] is None and e.f1["comp4"] is None
    assert e.precision["comp4"] == 0.0  # a false alarm for it is still counted against it
    present = [e.f1[c] for c in ("none", "comp1", "comp2", "comp3")]
    assert e.macro_f1 == pytest.approx(sum(present) / 4)
    assert "f1_comp4" not in e.metrics() and "precision_comp4" in e.metrics()


def test_gate_needs_every_floor_and_no_worse_than_the_champion_on_the_same_rows():
    floors = GateFloors(macro_f1=0.9, event_recall=0.8, alarm_precision=0.6, champion_tolerance=0.01)
    good = {"macro_f1": 0.95, "event_recall": 0.9, "alarm_precision": 0.7}
    assert gate_decision(good, floors)[0]
    assert gate_decision(good, floors, {"candidate": 0.95, "champion": 0.955})[0]  # within the tolerance
    passed, reasons = gate_decision(good, floors, {"candidate": 0.93, "champion": 0.95})
    assert not passed and "worse than the champion's 0.9500 on the same holdout rows" in reasons[0]
    passed, reasons = gate_decision({**good, "event_recall": 0.7}, floors)
    assert not passed and reasons == ["event_recall 0.7000 is below the floor 0.8000"]
    passed, reasons = gate_decision({**good, "alarm_precision": None}, floors)  # a holdout without alarms
    assert passed and "alarm_precision not measurable on this holdout" in reasons


@pytest.mark.parametrize("classifier", ["random_forest", "decision_tree",
                                        pytest.param("gbt_one_vs_rest", marks=pytest.mark.slow),  # 12 s: 5 GBTs
                                        "logistic_regression"])
def test_every_offered_classifier_fits_and_scores_probabilities_that_sum_to_one(spark, classifier):
    from datetime import date, datetime

    from pyspark.sql import functions as F

    from pdm_assets.pipeline.decision import DecisionRule
    from pdm_assets.pipeline.features import feature_columns
    from pdm_assets.pipeline.model import fit_model
    from pdm_assets.pipeline.schemas import MACHINE_MODELS
    from pdm_assets.pipeline.scoring import PROBABILITY_COLUMNS, ModelLineage, score

    columns = feature_columns()
    numeric = [c for c in columns if c != "model"]
    # made-up rows in which each class has its own signal in one feature, so every classifier can learn it
    rows = spark.range(200).select(
        F.element_at(F.array(*map(F.lit, LABEL_CLASSES)), (F.col("id") % 5 + 1).cast("int")).alias("label"),
        F.col("id").cast("int").alias("machine_id"),
        F.lit(datetime(2015, 1, 1)).alias("timestamp"), F.lit(date(2015, 1, 1)).alias("date"),
        F.element_at(F.array(*map(F.lit, MACHINE_MODELS)), (F.col("id") % 4 + 1).cast("int")).alias("model"),
        *[((F.col("id") % 5 == i % 5).cast("double") * 10 + F.rand(i)).cast("double" if c != "age" else "int").alias(c)
          for i, c in enumerate(numeric)])
    small = {"random_forest": {"numTrees": 10, "maxDepth": 4}, "decision_tree": {"maxDepth": 4},
             "gbt_one_vs_rest": {"maxIter": 3, "maxDepth": 2}, "logistic_regression": {"maxIter": 20}}[classifier]
    model = fit_model(rows, ModelConfig(classifier, small), columns, {c: 40 for c in LABEL_CLASSES})
    scored = score(model, rows, ModelLineage("m", "1", "run"), datetime(2015, 1, 2), DecisionRule()).cache()
    sums = scored.select(sum((F.col(c) for c in PROBABILITY_COLUMNS[1:]), F.col(PROBABILITY_COLUMNS[0])).alias("s"))
    assert all(abs(r["s"] - 1) < 1e-6 for r in sums.collect())
    judged = scored.join(rows.select("machine_id", "label"), "machine_id")
    right = judged.where(F.col("label") == F.col("predicted_failure")).count()
    assert judged.count() == 200 and right >= 180, (classifier, right)  # the signal is plain: it is learned
