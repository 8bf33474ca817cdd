"""Event-level quality on hand-made alarms and failures: episodes, warned failures, lead, false alarms."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pdm_assets.pipeline.events import Event, episodes, evaluate_events

T0 = datetime(2015, 3, 1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_alarms_less_than_the_gap_apart_are_one_episode():
    alarms = [Event(1, "comp1", at(h)) for h in (0, 3, 6, 21)] + [Event(1, "comp2", at(3)), Event(2, "comp1", at(3))]
    found = episodes(alarms, gap_hours=12)
    assert [(e.machine_id, e.component, e.start, e.end, e.alarms) for e in found] == [
        (1, "comp1", at(0), at(6), 3), (1, "comp1", at(21), at(21), 1),  # 15 h after 06:00: a second visit
        (1, "comp2", at(3), at(3), 1), (2, "comp1", at(3), at(3), 1)]


def test_warned_failures_lead_times_and_false_alarm_episodes():
    failures = [Event(1, "comp1", at(30)),   # warned from 09:00, 21 h ahead
                Event(2, "comp2", at(50)),   # alarmed for comp1 only: missed
                Event(3, "comp3", at(100))]  # no alarm at all: missed
    alarms = [Event(1, "comp1", at(h)) for h in (9, 12, 21)] + [Event(2, "comp1", at(45))] + \
             [Event(4, "comp4", at(200))]    # nothing follows: a crew sent for nothing
    figures = evaluate_events(alarms, failures, horizon_hours=24, machines=10, period_start=T0,
                              period_end=T0 + timedelta(days=30))
    assert (figures.failures, figures.warned) == (3, 1)
    assert figures.event_recall == pytest.approx(1 / 3)
    assert figures.lead_median_h == 21 and figures.per_component["comp1"].recall == 1.0
    assert figures.per_component["comp2"].recall == 0.0 and figures.per_component["comp4"].recall is None
    assert (figures.episodes, figures.true_episodes) == (3, 1)  # machine 1 (one visit), machine 2, machine 4
    assert figures.alarm_precision == pytest.approx(1 / 3)
    months = 10 * 30 / (365.25 / 12)
    assert figures.false_episodes_per_machine_month == pytest.approx(2 / months)
    assert "event recall 0.333 (1/3)" in figures.summary()


def test_an_alarm_is_right_about_a_failure_just_past_the_period_but_only_failures_inside_count_for_recall():
    end = T0 + timedelta(days=1)
    figures = evaluate_events([Event(1, "comp1", at(21))], [Event(1, "comp1", at(26))], horizon_hours=24,
                              machines=1, period_start=T0, period_end=end)
    assert figures.failures == 0 and figures.event_recall is None
    assert figures.true_episodes == 1 and figures.alarm_precision == 1.0
    # an alarm at or after a failure did not warn of it
    late = evaluate_events([Event(1, "comp1", at(10))], [Event(1, "comp1", at(10))], 24, 1, T0, end)
    assert late.warned == 0 and late.true_episodes == 0
