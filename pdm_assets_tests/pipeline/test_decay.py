"""The decay rule: K of the last N days' pooled figures below the holdout figure minus a margin."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from pdm_assets.pipeline.decay import DecayRule, judge_decay, pooled_figures

D0 = date(2015, 6, 1)


def _day(offset: int, failures: int, warned: int, episodes: int = 2, false: int = 0) -> dict:
    return {"date": D0 + timedelta(days=offset), "rows": 80, "macro_f1": 0.8, "failures": failures,
            "warned": warned, "episodes": episodes, "false_episodes": false}


def test_each_day_pools_its_trailing_window_and_days_without_failures_have_no_recall():
    rows = [_day(0, 2, 2), _day(1, 0, 0), _day(2, 2, 0), _day(5, 1, 1, episodes=0)]
    recall = pooled_figures(rows, "event_recall", pool_days=2)
    assert recall == [(D0, 1.0), (D0 + timedelta(days=1), 1.0), (D0 + timedelta(days=2), 0.0),
                      (D0 + timedelta(days=5), 1.0)]
    assert pooled_figures([_day(1, 0, 0)], "event_recall", 7) == [(D0 + timedelta(days=1), None)]
    precision = pooled_figures([_day(0, 1, 1, 4, 1), _day(1, 1, 1, 4, 3)], "alarm_precision", 7)
    assert precision[-1] == (D0 + timedelta(days=1), 0.5)
    assert pooled_figures(rows, "macro_f1", 7)[-1][1] == pytest.approx(0.8)
    # a quiet window is no evidence: with at least 3 failures asked for, only the 7-day pool ending D5 has them
    assert [v for _, v in pooled_figures(rows, "event_recall", 7, min_events=3)] == [None, None, 0.5, 0.6]


def test_k_of_the_last_n_days_below_is_decay_and_the_first_such_day_is_found():
    rule = DecayRule(days=4, below=2, margin=0.1)
    good, bad = 0.9, 0.5
    figures = [(D0 + timedelta(days=i), v) for i, v in enumerate([good, bad, good, None, good, bad, bad])]
    verdict = judge_decay(figures, reference=0.9, rule=rule)
    assert verdict.threshold == pytest.approx(0.8)
    assert verdict.decayed and verdict.below == [D0 + timedelta(days=5), D0 + timedelta(days=6)]
    assert verdict.first_decayed_day == D0 + timedelta(days=5)  # one low day of four is not decay
    assert "2 of the last 4 days below 0.80" in verdict.describe()
    healthy = judge_decay(figures[:5], reference=0.9, rule=rule)
    assert not healthy.decayed and healthy.first_decayed_day is None
    assert not judge_decay([], 0.9, rule).decayed


def test_a_rule_that_cannot_fire_or_watches_nothing_known_is_refused():
    with pytest.raises(ValueError, match="1 <= K <= N"):
        DecayRule(days=3, below=4)
    with pytest.raises(ValueError, match="decay metric must be one of"):
        DecayRule(metric="accuracy")
