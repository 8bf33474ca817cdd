"""Alert episodes per day: continued over midnight, closed after the gap, never shaped by later alarms."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from pdm_assets.pipeline.alerts import ALERT_COLUMNS, alerts_by_day, open_alerts_markdown

D1, D2, D3 = date(2015, 3, 1), date(2015, 3, 2), date(2015, 3, 3)
SCHEMA = ("machine_id int, timestamp timestamp, date date, predicted_failure string, probability_none double, "
          "probability_comp1 double, probability_comp2 double, probability_comp3 double, probability_comp4 double, "
          "model_version string, decision_rule string")


def _row(machine: int, at: datetime, predicted: str = "none", p: float = 0.0, version: str = "3"):
    probabilities = {c: 0.0 for c in ("comp1", "comp2", "comp3", "comp4")}
    if predicted != "none":
        probabilities[predicted] = p
    return (machine, at, at.date(), predicted, 1.0 - sum(probabilities.values()), *probabilities.values(), version,
            "comp1>=0.40,comp2>=0.40,comp3>=0.40,comp4>=0.40")


@pytest.fixture
def predictions(spark):
    rows = [
        # machine 1: comp2 from D1 18:00 over midnight to D2 06:00 (one episode), again D3 15:00 (a new one)
        _row(1, datetime(2015, 3, 1, 18), "comp2", 0.50), _row(1, datetime(2015, 3, 1, 21), "comp2", 0.70),
        _row(1, datetime(2015, 3, 2, 3), "comp2", 0.90), _row(1, datetime(2015, 3, 2, 6), "comp2", 0.60),
        _row(1, datetime(2015, 3, 3, 15), "comp2", 0.45, version="4"),
        # machine 2: one comp4 alarm at D1 03:00, closed long before D2
        _row(2, datetime(2015, 3, 1, 3), "comp4", 0.55),
        # quiet points
        _row(1, datetime(2015, 3, 1, 9)), _row(2, datetime(2015, 3, 2, 9)),
    ]
    return spark.createDataFrame(rows, SCHEMA)


def _by_day(frame) -> dict:
    return {(r["date"], r["machine_id"], r["component"]): r.asDict() for r in frame.collect()}


def test_an_episode_over_midnight_is_one_episode_continued_then_closed(predictions):
    alerts = alerts_by_day(predictions, [D1, D2, D3], gap_hours=12, window_start=datetime(2015, 2, 15))
    assert tuple(alerts.columns) == ALERT_COLUMNS
    rows = _by_day(alerts)
    d1, d2 = rows[(D1, 1, "comp2")], rows[(D2, 1, "comp2")]
    assert d1["episode_id"] == d2["episode_id"] == "1-comp2-20150301T1800"
    assert (d1["status"], d1["alarms"], d1["latest_alarm_at"], d1["hours_of_warning"]) == \
        ("open", 2, datetime(2015, 3, 1, 21), 3.0)
    assert (d1["peak_probability"], d1["latest_probability"]) == (0.70, 0.70)
    # on D2 it ends at 06:00: more than 12 h before D2's end, so it closed that day
    assert (d2["status"], d2["alarms"], d2["hours_of_warning"], d2["peak_probability"], d2["latest_probability"]) == \
        ("closed", 4, 12.0, 0.90, 0.60)
    d3 = rows[(D3, 1, "comp2")]
    assert (d3["episode_id"], d3["status"], d3["alarms"], d3["model_version"]) == ("1-comp2-20150303T1500", "open", 1, "4")
    # machine 2's alarm at D1 03:00 closed on D1 and is not on D2
    assert rows[(D1, 2, "comp4")]["status"] == "closed" and (D2, 2, "comp4") not in rows
    assert not any(r["may_have_started_earlier"] for r in rows.values())


def test_a_day_is_what_its_end_knew_so_a_backfill_gives_what_daily_runs_gave(predictions):
    window = datetime(2015, 2, 15)
    together = _by_day(alerts_by_day(predictions, [D1, D2, D3], 12, window))
    for day in (D1, D2, D3):
        alone = _by_day(alerts_by_day(predictions.where(f"timestamp < '{day.isoformat()} 23:59:59'"), [day], 12, window))
        assert alone == {k: v for k, v in together.items() if k[0] == day}


def test_an_episode_reaching_back_to_the_window_start_is_flagged(predictions):
    rows = _by_day(alerts_by_day(predictions, [D1], 12, window_start=datetime(2015, 3, 1, 12)))
    assert rows[(D1, 1, "comp2")]["may_have_started_earlier"] is True


def test_the_morning_view_lists_open_alerts_most_probable_first():
    def alert(machine, p, status="open"):
        return {"machine_id": machine, "component": "comp1", "status": status, "latest_probability": p,
                "peak_probability": p, "first_alarm_at": datetime(2015, 3, 1, 6), "hours_of_warning": 6.0,
                "alarms": 3, "model_version": "2"}
    table = open_alerts_markdown([alert(7, 0.5), alert(8, 0.9), alert(9, 0.99, "closed")])
    body = table.splitlines()[2:]
    assert [line.split("|")[1].strip() for line in body] == ["8", "7"]
    assert open_alerts_markdown([alert(9, 0.99, "closed")]) == "No open alerts."


def test_an_alarm_a_whole_gap_before_midnight_has_closed_by_then(spark):
    noon = spark.createDataFrame([_row(5, datetime(2015, 3, 3, 12), "comp1", 0.8)], SCHEMA)
    rows = _by_day(alerts_by_day(noon, [D3], 12, datetime(2015, 2, 15)))
    assert rows[(D3, 5, "comp1")]["status"] == "closed"  # the next point at 00:00 would start a new episode
