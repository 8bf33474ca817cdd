"""The class mix and probability figures of scored rows, per day, from one aggregation."""
from __future__ import annotations

from datetime import date

from pdm_assets.pipeline.scoring import PROBABILITY_COLUMNS, scored_summary

D1, D2 = date(2015, 1, 1), date(2015, 1, 2)


def test_scored_summary_counts_classes_and_bad_probabilities_per_day(spark) -> None:
    columns = ", ".join(f"{c} double" for c in PROBABILITY_COLUMNS)
    rows = [
        (D1, "none", 0.9, 0.1, 0.0, 0.0, 0.0),
        (D1, "none", 0.7, 0.1, 0.1, 0.1, 0.0),
        (D1, "comp1", 0.2, 0.8, 0.0, 0.0, 0.0),
        (D2, "comp2", 0.1, 0.1, 0.5, 0.1, 0.1),    # sums to 0.9
        (D2, "none", 1.2, -0.2, 0.0, 0.0, 0.0),    # sums to 1, two values outside [0, 1]
        (D2, "none", None, 0.5, 0.5, 0.0, 0.0),    # a null counts as outside
    ]
    scored = spark.createDataFrame(rows, f"date date, predicted_failure string, {columns}")

    mix, problems = scored_summary(scored)
    assert mix == {"2015-01-01": {"none": 2, "comp1": 1}, "2015-01-02": {"comp2": 1, "none": 2}}
    assert scored_summary(scored.where("date = '2015-01-01'"))[1] == {"outside_0_1": 0, "not_summing_to_1": 0}
    # the null row is counted outside [0, 1]; its sum is unknown, not "not 1"
    assert problems == {"outside_0_1": 2, "not_summing_to_1": 1}
