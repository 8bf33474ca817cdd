"""Model configuration, class weights, metrics and the gate decision: hand-checked numbers."""
from __future__ import annotations

import pytest

from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.model import (
    ModelConfig, ModelConfigError, TrainingDataError, class_weights, evaluation_from_counts, gate_decision,
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


def test_gate_needs_the_floor_and_no_worse_than_the_champion():
    assert gate_decision(0.95, 0.9, None, 0.01)[0]
    assert gate_decision(0.95, 0.9, 0.955, 0.01)[0]  # within the tolerance
    passed, reason = gate_decision(0.93, 0.9, 0.95, 0.01)
    assert not passed and "worse than the champion's 0.9500" in reason
    passed, reason = gate_decision(0.85, 0.9, None, 0.01)
    assert not passed and "below the floor 0.9000" in reason
