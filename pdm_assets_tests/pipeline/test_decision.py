"""The decision rule: thresholds chosen for a target alarm precision, and applied per row."""
from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import functions as F

from pdm_assets.pipeline.decision import DecisionRule, Scored, choose_rule, decide
from pdm_assets.pipeline.events import Event

T0 = datetime(2015, 3, 1)


def test_the_lowest_threshold_reaching_the_target_precision_is_chosen_per_component():
    # comp1: two true alarms at 0.8, two false ones at 0.4 (precision 1.0 from 0.45 up, 0.5 below it)
    points = [Scored(1, T0 + timedelta(hours=3), {"comp1": 0.8}), Scored(2, T0 + timedelta(hours=3), {"comp1": 0.8}),
              Scored(3, T0 + timedelta(days=5), {"comp1": 0.4}), Scored(4, T0 + timedelta(days=9), {"comp1": 0.4})]
    failures = [Event(1, "comp1", T0 + timedelta(hours=10)), Event(2, "comp1", T0 + timedelta(hours=20))]
    rule, curves = choose_rule(points, failures, 24, 4, T0, T0 + timedelta(days=20), target_precision=0.9)
    assert rule.thresholds["comp1"] == 0.45
    low = next(p for p in curves["comp1"] if p.threshold == 0.4)
    assert (low.alarm_precision, low.event_recall) == (0.5, 1.0)
    assert rule.describe().startswith("comp1>=0.45,")
    assert DecisionRule.from_json(rule.to_json()) == rule
    assert DecisionRule().describe() == "argmax"


def test_the_rule_alarms_for_the_likeliest_component_past_its_threshold(spark):
    rows = spark.createDataFrame([(0.2, 0.5, 0.3, "none"), (0.1, 0.3, 0.6, "comp2"), (0.5, 0.45, 0.05, "comp1")],
                                 "comp1 double, comp2 double, none double, argmax string")
    rule = DecisionRule({"comp1": 0.4, "comp2": 0.4, "comp3": 0.9, "comp4": 0.9})
    probability = {c: F.col(c) if c in ("comp1", "comp2") else F.lit(0.0) for c in ("comp1", "comp2", "comp3", "comp4")}
    got = [r[0] for r in rows.select(decide(rule, probability, F.col("argmax"))).collect()]
    assert got == ["comp2", "none", "comp1"]  # 0.5 > 0.4; nothing past; both past, comp1 likelier
    assert [r[0] for r in rows.select(decide(DecisionRule(), probability, F.col("argmax"))).collect()] == \
        ["none", "comp2", "comp1"]
