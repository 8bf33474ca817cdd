"""build_labels on hand-computed cases: horizon edges, several failures, lookahead and ranges."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams, build_labels
from pdm_assets.pipeline.schemas import FAILURES, MACHINES, raw_schema

D1, D2, D3, D4 = (datetime(2015, 1, d) for d in (1, 2, 3, 4))
INGESTED = datetime(2020, 1, 1)


def h(day: datetime, hours: float) -> datetime:
    return day + timedelta(hours=hours)


def inputs(spark, failures, ids=(1, 2, 3)):
    fails = spark.createDataFrame([(t, m, c, "f.csv", INGESTED, t.date()) for t, m, c in failures],
                                  raw_schema(FAILURES))
    machines = spark.createDataFrame([(i, "model1", 5, "m.csv", INGESTED) for i in ids], raw_schema(MACHINES))
    return fails.cache(), machines.cache()


def labels(inputs, start=D1, end=D3, params=LabelParams()):
    df = build_labels(*inputs, start, end, params)
    assert df.columns == ["machine_id", "timestamp", "date", "label"]
    return {(r.machine_id, r.timestamp): r.label for r in df.collect()}


FAILS = [
    (h(D2, 6), 1, "comp2"),  # machine 1: one failure
    (h(D3, 6), 2, "comp3"),  # machine 2: two failures 6 h apart
    (h(D3, 12), 2, "comp1"),
    (h(D2, 12), 3, "comp4"),  # machine 3: two at the same instant
    (h(D2, 12), 3, "comp2"),
]


def test_params_and_classes():
    assert LABEL_CLASSES == ("none", "comp1", "comp2", "comp3", "comp4")
    for bad in (dict(cadence_hours=7), dict(horizon_hours=0), dict(horizon_hours=-3)):
        with pytest.raises(ValueError):
            LabelParams(**bad)


def test_labels_hand_computed(spark):
    rows = labels(inputs(spark, FAILS, ids=(1, 2, 3, 4)), D1, D3)
    assert len(rows) == 4 * 16
    # machine 1: comp2 fails at D2 06:00; the window (t, t+24h] includes t+24h and excludes t
    expected = {h(D1, 3 * i): "none" for i in range(16)}
    expected.update({h(D1, hr): "comp2" for hr in range(6, 30, 3)})  # D1 06:00 .. D2 03:00
    assert {t: lab for (m, t), lab in rows.items() if m == 1} == expected
    assert rows[(1, h(D1, 6))] == "comp2"  # failure exactly at t + horizon: included
    assert rows[(1, h(D1, 3))] == "none"  # 27 h ahead
    assert rows[(1, h(D2, 6))] == "none"  # failure exactly at t: excluded
    # machine 2: comp3 (D3 06:00) and comp1 (D3 12:00) both ahead of D2 12:00 .. D3 03:00: the
    # earliest wins. The reference summed class ids (3 + 1) and would have said comp4.
    for hr in range(12, 24, 3):
        assert rows[(2, h(D2, hr))] == "comp3"
    assert rows[(2, h(D2, 6))] == "comp3"  # comp1 is 30 h ahead
    assert rows[(2, h(D2, 3))] == "none"
    assert "comp4" not in {lab for (m, _), lab in rows.items() if m == 2}
    # machine 3: a tie at the same instant goes to the lowest component name
    assert rows[(3, h(D1, 12))] == "comp2" and rows[(3, h(D2, 9))] == "comp2"
    assert rows[(3, h(D2, 12))] == "none" and rows[(3, h(D1, 9))] == "none"
    # machine 4: no failure at all
    assert {lab for (m, _), lab in rows.items() if m == 4} == {"none"}


def test_later_failures_and_range_union(spark):
    base = inputs(spark, FAILS)
    rows = labels(base, D1, D3)
    # failures at or before t, or after t + horizon, do not change the label at t
    noise = [(h(D1, 0), 3, "comp1"), (h(D4, 0), 2, "comp4"), (h(D2, 9), 1, "comp3")]
    noisy = labels(inputs(spark, FAILS + noise), D1, D3)
    unaffected = lambda t, m: not any(t < ft <= t + timedelta(hours=24) for ft, fm, _ in noise if fm == m)
    assert {k: v for k, v in noisy.items() if unaffected(k[1], k[0])} == \
        {k: v for k, v in rows.items() if unaffected(k[1], k[0])}
    assert noisy[(1, h(D2, 6))] == "comp3"  # and the ones in reach do
    # a range is the union of its days (the lookahead into D3 is passed to both)
    union = {**labels(base, D1, D2), **labels(base, D2, D3)}
    assert union == rows
    # a longer horizon on a coarser grid
    wide = labels(base, D1, D3, LabelParams(cadence_hours=12, horizon_hours=48))
    assert wide[(2, D1)] == "none" and wide[(2, h(D1, 12))] == "comp3" and wide[(2, D2)] == "comp3"
    assert wide[(1, D1)] == "comp2" and wide[(1, h(D2, 12))] == "none"


def test_a_label_is_final_only_when_every_day_its_horizon_reaches_has_arrived(spark):
    from datetime import date

    from pdm_assets.pipeline.labels import complete_through, mark_final

    built = build_labels(*inputs(spark, [], ids=(1,)), D1, D3, LabelParams(horizon_hours=24))
    # failures of Jan 1 and Jan 2 ingested, Jan 3 not yet: Jan 1 is final, Jan 2 (looks into Jan 3) is not
    marked = mark_final(built, {date(2015, 1, 1), date(2015, 1, 2)}, [date(2015, 1, 1), date(2015, 1, 2)], 24)
    finality = {(r["date"], r["final"]) for r in marked.select("date", "final").distinct().collect()}
    assert finality == {(date(2015, 1, 1), True), (date(2015, 1, 2), False)}
    assert marked.columns == ["machine_id", "timestamp", "date", "label", "final"]
    # a 6 h horizon from 21:00 reaches 03:00 of the next day; from 12:00 it stays within the day
    short = mark_final(build_labels(*inputs(spark, [], ids=(1,)), D1, D2, LabelParams(horizon_hours=6)),
                       {date(2015, 1, 1)}, [date(2015, 1, 1)], 6)
    by_time = {r["timestamp"].hour: r["final"] for r in short.collect()}
    assert by_time[12] is True and by_time[18] is False and by_time[21] is False
    assert complete_through([date(2015, 1, 5)], {date(2015, 1, 6)}, 1) == {date(2015, 1, 5): date(2015, 1, 4)}
