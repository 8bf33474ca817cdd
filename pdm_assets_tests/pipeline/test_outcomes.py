"""A day's predictions judged once its labels are final: rows, failures warned (also from the evening before)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from pdm_assets.pipeline.events import Event
from pdm_assets.pipeline.outcomes import (
    OUTCOME_SCHEMA, day_figures, day_outcomes, pooled_week, weekly, weekly_figure, weekly_markdown,
)
from pdm_assets_tests.pipeline.test_alerts import SCHEMA, _row

D0, D1, D2 = date(2015, 3, 1), date(2015, 3, 2), date(2015, 3, 3)
LABELS = "machine_id int, timestamp timestamp, date date, label string, final boolean"


@pytest.fixture
def predictions(spark):
    return spark.createDataFrame([
        _row(1, datetime(2015, 3, 1, 21), "comp1", 0.7),   # the evening before: warns the failure at D1 06:00
        _row(1, datetime(2015, 3, 2, 0), "comp1", 0.8),
        _row(1, datetime(2015, 3, 2, 3), "comp1", 0.9),
        _row(1, datetime(2015, 3, 2, 12)),
        _row(2, datetime(2015, 3, 2, 0)),
        _row(2, datetime(2015, 3, 2, 12), "comp3", 0.6),   # a false alarm: nothing fails
        _row(1, datetime(2015, 3, 3, 0)), _row(2, datetime(2015, 3, 3, 0)),
    ], SCHEMA)


@pytest.fixture
def labels(spark):
    return spark.createDataFrame([
        (1, datetime(2015, 3, 2, 0), D1, "comp1", True), (1, datetime(2015, 3, 2, 3), D1, "comp1", True),
        (1, datetime(2015, 3, 2, 12), D1, "none", True), (2, datetime(2015, 3, 2, 0), D1, "none", True),
        (2, datetime(2015, 3, 2, 12), D1, "none", True),
        (1, datetime(2015, 3, 3, 0), D2, "none", True), (2, datetime(2015, 3, 3, 0), D2, "none", False),
    ], LABELS)


FAILURES = [Event(1, "comp1", datetime(2015, 3, 2, 6))]


def test_a_final_day_is_judged_by_rows_and_by_failures_and_the_evening_before_counts(spark, predictions, labels):
    outcomes = day_outcomes(predictions, labels, FAILURES, [D1, D2], horizon_hours=24, gap_hours=12)
    assert [(o.day, o.model_version) for o in outcomes] == [(D1, "3")]  # D2 has a label not final yet
    day = outcomes[0]
    assert day.rows.rows == 5 and day.rows.recall["comp1"] == 1.0 and day.rows.precision["comp3"] == 0.0
    assert (day.events.failures, day.events.warned) == (1, 1)
    assert day.events.lead_median_h == 9.0  # from D0 21:00, not only from D1 00:00
    assert (day.events.episodes, day.events.true_episodes) == (2, 1)  # the comp3 episode was for nothing
    figures = day.figures()
    assert figures["event_recall"] == 1.0 and figures["alarm_precision"] == 0.5 and figures["false_alarm_episodes"] == 1
    rows = spark.createDataFrame([o.record() for o in outcomes], OUTCOME_SCHEMA).collect()
    assert rows[0]["failures"] == 1 and rows[0]["false_episodes"] == 1 and rows[0]["recall_comp1"] == 1.0


def test_no_final_day_no_outcome_and_weeks_pool_their_days(predictions, labels):
    assert day_outcomes(predictions, labels, FAILURES, [D2], 24, 12) == []
    outcomes = day_outcomes(predictions, labels, FAILURES, [D1], 24, 12)
    assert weekly(outcomes) == [(date(2015, 3, 2), 1.0, 0.5)]


def test_a_week_pools_its_judged_days_and_a_second_version_is_named_apart(predictions, labels):
    (d1,) = day_outcomes(predictions, labels, FAILURES, [D1], 24, 12)
    week_later = replace(d1, day=D1 + timedelta(days=7))
    challenger = replace(d1, model_version="4", rows=replace(d1.rows, rows=d1.rows.rows - 1))
    week = pooled_week([d1, week_later], D1 + timedelta(days=7))
    assert (week["from"], week["failures"], week["warned"], week["episodes"], week["false_episodes"]) == (
        (D1 + timedelta(days=7)).isoformat(), 1, 1, 2, 1)  # D1 is 7 days back: the week before
    assert week["event_recall"] == 1.0 and week["alarm_precision"] == 0.5
    figures = day_figures([challenger, d1])  # the version that scored most rows is the plain one
    assert figures["model_version"] == "3" and figures["v4_model_version"] == "4"
    assert figures["v4_event_recall"] == figures["event_recall"] == 1.0
    table = weekly_markdown([d1, week_later]).splitlines()
    assert table[2:] == ["| 2015-03-02 | 1.00 | 0.50 |", "| 2015-03-09 | 1.00 | 0.50 |"]
    assert weekly_markdown([]) == "No day of the run has final labels yet."
    figure = weekly_figure(weekly([d1, week_later]), "v3")
    assert [len(line.get_xdata()) for line in figure.axes[0].lines] == [2, 2]  # recall and precision, per week
