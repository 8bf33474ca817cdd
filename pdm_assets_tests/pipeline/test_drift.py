"""Drift measures on hand-computed cases: PSI arithmetic, quantile edges, daily PSI for features and class mix."""
from __future__ import annotations

import math
from datetime import date

import pytest

from pdm_assets.pipeline.drift import (
    DEFAULT_BINS, PSI_EPSILON, DriftReference, drift_by_day, drift_reference, psi,
)

CLASSES = ("none", "comp1", "comp2", "comp3")
D1, D2, D3 = date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)
SCHEMA = "level double, count int, empty double, label string, date date"

# 100 reference rows:
#   level: 1..100, so deciles cut at 10, 20, ..., 90
#   count: 80 zeros then 1..20; eight of the nine deciles are 0, so the edges collapse to [0, 10]
#   empty: always null
#   label: 97 none, 1 comp1, 2 comp2, 0 comp3
COUNTS = [0] * 80 + list(range(1, 21))
LABELS = ["none"] * 97 + ["comp1", "comp2", "comp2"]


def reference_rows(day, level_shift=0.0, labels=LABELS, level_null=False):
    return [(None if level_null else float(i + 1) + level_shift, COUNTS[i], None, labels[i], day) for i in range(100)]


@pytest.fixture(scope="module")
def reference(spark) -> DriftReference:
    df = spark.createDataFrame(reference_rows(D1), SCHEMA)
    return drift_reference(df, ["level", "count", "empty"], "label", CLASSES)


@pytest.fixture(scope="module")
def daily(spark, reference) -> dict[str, dict[str, float]]:
    """D1 looks like the reference, D2 has level shifted past every edge and predicts only comp1, D3 has no level."""
    rows = (reference_rows(D1) + reference_rows(D2, level_shift=100.0, labels=["comp1"] * 100)
            + reference_rows(D3, level_null=True))
    df = spark.createDataFrame(rows, SCHEMA).withColumnRenamed("label", "prediction")
    return drift_by_day(df, reference, "prediction")


def test_psi_of_identical_distributions_is_zero():
    assert psi([0.1] * 10, [0.1] * 10) == 0.0
    assert psi([0.0, 0.3, 0.7], [0.0, 0.3, 0.7]) == 0.0


def test_psi_of_a_known_pair():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 (ln 2 + ln 1.5) = 0.25 ln 3
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3), abs=1e-12)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(psi([0.25, 0.75], [0.5, 0.5]))  # symmetric


def test_psi_floors_empty_bins_at_epsilon():
    assert PSI_EPSILON == 1e-4 and DEFAULT_BINS == 10
    # The empty bin is counted as 1e-4: 0.5 ln 2 + (0.5 - 1e-4) ln(0.5 / 1e-4)
    value = psi([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value)
    assert value == pytest.approx(0.5 * math.log(2) + 0.4999 * math.log(5000), abs=1e-12)
    assert psi([0.0, 1.0], [1.0, 0.0]) == pytest.approx(2 * 0.9999 * math.log(10_000), abs=1e-12)
    with pytest.raises(ValueError, match="2 expected shares but 3 actual"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_reference_edges_proportions_and_class_mix(reference):
    assert reference.rows == 100
    assert reference.edges["level"] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    # upper-inclusive bins (edge[i-1], edge[i]]: 10 sits in bin 0, so every bin holds exactly 10 of 1..100
    assert reference.proportions["level"] == pytest.approx([0.1] * 10)
    assert reference.class_mix == pytest.approx({"none": 0.97, "comp1": 0.01, "comp2": 0.02, "comp3": 0.0})
    assert list(reference.class_mix) == list(CLASSES)
    assert "empty" not in reference.edges and "empty" not in reference.proportions  # all null: no reference


def test_mostly_zero_column_gets_strictly_increasing_edges(reference):
    edges = reference.edges["count"]
    assert edges == [0.0, 10.0]
    assert all(a < b for a, b in zip(edges, edges[1:]))
    # <= 0: 80 rows, (0, 10]: 1..10, > 10: 11..20
    assert reference.proportions["count"] == pytest.approx([0.8, 0.1, 0.1])
    assert sum(reference.proportions["count"]) == pytest.approx(1.0)


def test_json_round_trip_is_equal(reference):
    text = reference.to_json()
    assert DriftReference.from_json(text) == reference
    assert DriftReference.from_json(text).to_json() == text
    with pytest.raises(ValueError, match="strictly increasing"):
        DriftReference(edges={"x": [1.0, 1.0]}, proportions={"x": [0.3, 0.3, 0.4]}, class_mix={}, rows=1)


def test_every_day_is_reported_under_its_iso_date(daily):
    assert list(daily) == ["2015-01-01", "2015-01-02", "2015-01-03"]


def test_unshifted_day_has_no_drift(daily):
    assert daily["2015-01-01"] == pytest.approx({"level": 0.0, "count": 0.0, "predicted_class_mix": 0.0}, abs=1e-12)


def test_shifted_day_has_large_feature_psi(daily):
    # every shifted value (101..200) exceeds the last edge: nine bins go 0.1 -> 0 (floored), the last 0.1 -> 1
    expected = 9 * (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1) + 0.9 * math.log(10)
    day = daily["2015-01-02"]
    assert day["level"] == pytest.approx(expected, rel=1e-9)
    assert day["level"] > 0.25
    assert day["count"] == pytest.approx(0.0, abs=1e-12)  # not shifted


def test_class_mix_drift_when_predictions_change(daily):
    # reference none/comp1/comp2/comp3 = .97/.01/.02/0, D2 predicts comp1 only; comp3 is 0 on both sides -> 0
    expected = ((PSI_EPSILON - 0.97) * math.log(PSI_EPSILON / 0.97) + 0.99 * math.log(1 / 0.01)
                + (PSI_EPSILON - 0.02) * math.log(PSI_EPSILON / 0.02))
    assert daily["2015-01-02"]["predicted_class_mix"] == pytest.approx(expected, rel=1e-9)
    assert daily["2015-01-02"]["predicted_class_mix"] > 0.25
    assert daily["2015-01-01"]["predicted_class_mix"] == pytest.approx(0.0, abs=1e-12)


def test_all_null_feature_on_a_day_is_omitted(daily):
    assert daily["2015-01-03"] == pytest.approx({"count": 0.0, "predicted_class_mix": 0.0}, abs=1e-12)
    assert "level" not in daily["2015-01-03"]
    assert all("empty" not in day for day in daily.values())  # not in the reference either
