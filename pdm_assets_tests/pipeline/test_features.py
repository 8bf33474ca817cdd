"""build_features on hand-computed cases, a direct-computation oracle, leakage and range checks."""
from __future__ import annotations

import random
import statistics
from datetime import date, datetime, timedelta, timezone

import pytest

from pdm_assets.pipeline.features import KEY_COLUMNS, FeatureParams, build_features, feature_columns
from pdm_assets.pipeline.grid import Grid
from pdm_assets.pipeline.schemas import COMPONENTS, ERRORS, ERROR_IDS, MACHINES, MAINT, SIGNALS, TELEMETRY, raw_schema

D0 = datetime(2014, 12, 31)  # lookback day
D1, D2, D3, D4 = (datetime(2015, 1, d) for d in (1, 2, 3, 4))
HISTORY_START = date(2014, 6, 1)
INGESTED = datetime(2020, 1, 1)


def h(day: datetime, hours: float) -> datetime:
    return day + timedelta(hours=hours)


def raw(spark, dataset, rows):
    """A raw table (lineage and partition columns filled in) from (datetime, machine_id, ...) tuples."""
    data = [(*r, "test.csv", INGESTED, *((r[0].date(),) if dataset.daily else ())) for r in rows]
    return spark.createDataFrame(data, raw_schema(dataset))


def machines(spark, ids=(1,)):
    return spark.createDataFrame([(i, f"model{1 + i % 4}", 10 + i, "m.csv", INGESTED) for i in ids],
                                 raw_schema(MACHINES))


def telemetry(spark, readings):
    """readings: (datetime, machine_id, volt); the other signals are volt-derived, to check the mapping."""
    return raw(spark, TELEMETRY, [(t, m, v, 10 * v, v + 100, -v) for t, m, v in readings])


def test_params_validation_and_columns():
    for bad in (dict(cadence_hours=5), dict(cadence_hours=0), dict(short_window_hours=0),
                dict(short_window_hours=24, long_window_hours=24), dict(long_window_hours=2.5)):
        with pytest.raises(ValueError):
            FeatureParams(**bad)
    cols = feature_columns(FeatureParams())
    assert cols[:2] == ["volt_mean_3h", "rotate_mean_3h"]
    assert "vibration_std_24h" in cols and "error5_count_24h" in cols
    assert cols[-6:] == [f"{c}_days_since_replacement" for c in COMPONENTS] + ["model", "age"]
    assert len(cols) == len(set(cols)) == 4 * 4 + 5 + 4 + 2
    assert FeatureParams(12, 6, 48).block_hours == 6 and FeatureParams(6, 4, 10).block_hours == 2


def test_grid_bounds():
    g = Grid(datetime(2015, 1, 2, 4), datetime(2015, 1, 2, 10), 3)  # unaligned start: first point 06:00
    assert (g.first, g.last, g.count) == (h(D2, 6), h(D2, 9), 2)
    g = Grid(date(2015, 1, 1), date(2015, 1, 3), 3)
    assert (g.first, g.last, g.count) == (D1, h(D2, 21), 16)
    aware = datetime(2015, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))  # = 2015-01-01 00:00 UTC
    assert Grid(aware, D2, 12).first == D1
    assert Grid(D2, D2, 3).count == 0
    with pytest.raises(ValueError):
        Grid(D3, D2, 3)


# ---- hand-computed edge cases: one build, one machine per topic ----
# machine 1: telemetry edges; machines 2 and 3: errors; machine 4: replacements.

T_ERR = h(D2, 12)
EDGE_TELEMETRY = [  # (datetime, machine, volt)
    (h(D1, 0), 1, 500.0),  # exactly t - 24h for t = D2 00:00: outside its long window
    (h(D1, 21), 1, 7.0),  # exactly t - 3h for t = D2 00:00: outside the short, inside the long window
    (h(D1, 22), 1, 1.0), (h(D1, 23), 1, 2.0), (h(D2, 0), 1, 3.0),  # a reading at t is inside
    (h(D2, 1), 1, 10.0), (h(D2, 2), 1, 20.0), (h(D2, 3), 1, 30.0),
    (h(D2, 8), 1, 5.0),
    (h(D3, 0), 1, 1e6),  # at `end`: must not be seen
]
EDGE_ERRORS = [
    (T_ERR - timedelta(hours=24), 2, "error1"),  # excluded from t's window (t-24h, t]
    (T_ERR - timedelta(hours=23), 2, "error1"),
    (T_ERR - timedelta(hours=1), 2, "error1"),
    (T_ERR, 2, "error3"),  # included
    (T_ERR + timedelta(hours=1), 2, "error5"),  # after t
    (T_ERR, 3, "error2"),  # another machine
]
EDGE_MAINT = [
    (datetime(2014, 6, 1, 6), 4, "comp1"),  # pre-history, before any partition
    (datetime(2014, 12, 1, 6), 4, "comp1"),
    (h(D1, 12), 4, "comp1"),
    (h(D2, 6), 4, "comp2"),  # exactly at a grid point
    (h(D2, 7), 4, "comp4"),  # between grid points
    (h(D3, 0), 4, "comp3"),  # at `end`: must not be seen
]


@pytest.fixture(scope="module")
def edge_rows(spark):
    tel = raw(spark, TELEMETRY, [(t, m, v, 10 * v, v + 100, -v) for t, m, v in EDGE_TELEMETRY])
    df = build_features(tel, raw(spark, ERRORS, EDGE_ERRORS), raw(spark, MAINT, EDGE_MAINT),
                        machines(spark, (1, 2, 3, 4)), D2, D3, history_start=HISTORY_START)
    assert df.columns == [*KEY_COLUMNS, *feature_columns()]
    return {(r.machine_id, r.timestamp): r.asDict() for r in df.collect()}


def test_rolling_stats_window_edges_and_day_boundary(edge_rows):
    assert {t for _, t in edge_rows} == {h(D2, 3 * i) for i in range(8)} and len(edge_rows) == 4 * 8

    def check(t, short, long):
        row = edge_rows[(1, t)]
        # the other signals are derived from volt, which checks the column mapping
        for sig, f in (("volt", lambda v: v), ("rotate", lambda v: 10 * v),
                       ("pressure", lambda v: v + 100), ("vibration", lambda v: -v)):
            for w, vals in (("3h", short), ("24h", long)):
                vals = [f(v) for v in vals]
                mean = statistics.fmean(vals) if vals else None
                std = statistics.stdev(vals) if len(vals) > 1 else None
                assert row[f"{sig}_mean_{w}"] == pytest.approx(mean, abs=1e-9), (t, sig, w)
                assert row[f"{sig}_std_{w}"] == pytest.approx(std, abs=1e-9), (t, sig, w)

    check(h(D2, 0), [1, 2, 3], [7, 1, 2, 3])  # the range's first point uses the lookback day
    assert edge_rows[(1, h(D2, 0))]["volt_std_3h"] == pytest.approx(1.0)
    check(h(D2, 3), [10, 20, 30], [7, 1, 2, 3, 10, 20, 30])
    assert edge_rows[(1, h(D2, 3))]["volt_mean_3h"] == pytest.approx(20.0)
    check(h(D2, 6), [], [7, 1, 2, 3, 10, 20, 30])  # empty block: null short stats, long still right
    check(h(D2, 9), [5], [7, 1, 2, 3, 10, 20, 30, 5])  # one reading: a mean but no sample std
    check(h(D2, 21), [], [1, 2, 3, 10, 20, 30, 5])  # D1 21:00 is exactly t - 24h now
    assert edge_rows[(2, h(D2, 0))]["volt_mean_24h"] is None  # no telemetry for that machine


def test_error_counts_window_edges(edge_rows):
    counts = lambda m, ts: [edge_rows[(m, ts)][f"{e}_count_24h"] for e in ERROR_IDS]
    assert counts(2, T_ERR) == [2, 0, 1, 0, 0]
    assert counts(3, T_ERR) == [0, 1, 0, 0, 0]
    assert counts(2, h(D2, 15)) == [1, 0, 1, 0, 1]  # D1 13:00 dropped out
    assert counts(2, h(D2, 0)) == [2, 0, 0, 0, 0]  # D1 12:00 and 13:00, from the lookback day
    assert counts(2, h(D2, 9)) == [2, 0, 0, 0, 0]
    assert counts(1, T_ERR) == [0] * 5


def test_days_since_latest_replacement(edge_rows):
    days = lambda ts: [edge_rows[(4, ts)][f"{c}_days_since_replacement"] for c in COMPONENTS]
    since_history = lambda ts: (ts - datetime(2014, 6, 1)) / timedelta(days=1)  # HISTORY_START
    t = h(D2, 6)
    assert days(t) == pytest.approx([0.75, 0.0, since_history(t), since_history(t)])
    assert days(h(D2, 9)) == pytest.approx([0.875, 0.125, since_history(h(D2, 9)), 2 / 24])
    assert days(h(D2, 3)) == pytest.approx([15 / 24] + [since_history(h(D2, 3))] * 3)
    assert days(h(D2, 21))[2] == pytest.approx(since_history(h(D2, 21)))  # D3 00:00 is not seen
    # The reference notebook used the earliest replacement: 215 days here instead of 0.75.
    earliest = (t - datetime(2014, 6, 1, 6)) / timedelta(days=1)
    assert earliest == pytest.approx(215.0) and days(t)[0] != pytest.approx(earliest)
    assert all(r[f"{c}_days_since_replacement"] is not None for r in edge_rows.values() for c in COMPONENTS)


# ---- randomised checks: a direct computation, leakage and ranges ----

SIGNAL_SCALE = {"volt": (170, 15), "rotate": (446, 52), "pressure": (100, 11), "vibration": (40, 5)}


def random_inputs(seed=7, ids=(1, 2, 3), days=(D0, D1, D2, D3)):
    """Hourly telemetry with realistic magnitudes, ~10% of readings and one whole block missing."""
    rng = random.Random(seed)
    tel = [
        (h(day, hr), m, *(rng.gauss(mu, sd) for mu, sd in SIGNAL_SCALE.values()))
        for day in days for hr in range(24) for m in ids
        if rng.random() > 0.1 and not (m == 2 and h(D2, 6) < h(day, hr) <= h(D2, 9))
    ]
    errs = sorted({(h(rng.choice(days), rng.randrange(24)), rng.choice(ids), rng.choice(ERROR_IDS))
                   for _ in range(40)})
    maint = sorted({(h(rng.choice(days), rng.randrange(24)), rng.choice(ids), rng.choice(COMPONENTS))
                    for _ in range(20)})
    return tel, errs, maint


def frames(spark, tel, errs, maint, ids=(1, 2, 3)):
    """Cached input tables, so that repeated builds in one test do not re-ship the Python rows."""
    return tuple(df.cache() for df in (raw(spark, TELEMETRY, tel), raw(spark, ERRORS, errs),
                                       raw(spark, MAINT, maint), machines(spark, ids)))


def build(inputs, start, end, params=FeatureParams()):
    """build_features collected as {(machine_id, timestamp): row dict}."""
    df = build_features(*inputs, start, end, params, history_start=HISTORY_START)
    return {(r.machine_id, r.timestamp): r.asDict() for r in df.collect()}


def assert_rows_close(actual, expected, tol=1e-9):
    assert actual.keys() == expected.keys()
    for key, row in expected.items():
        for col, value in row.items():
            if isinstance(value, float):
                assert actual[key][col] == pytest.approx(value, abs=tol), (key, col)
            else:
                assert actual[key][col] == value, (key, col)


@pytest.mark.parametrize("params", [FeatureParams(), FeatureParams(6, 4, 10)], ids=["3-3-24", "6-4-10"])
def test_block_sums_match_direct_computation(spark, params):
    tel, errs, maint = random_inputs()
    rows = build(frames(spark, tel, errs, maint), D1, D3, params)
    assert len(rows) == 3 * 2 * 24 // params.cadence_hours
    checked_std = 0
    for (m, t), row in rows.items():
        for w in (params.short_window_hours, params.long_window_hours):
            inside = [r for r in tel if r[1] == m and t - timedelta(hours=w) < r[0] <= t]
            for i, sig in enumerate(SIGNALS):
                vals = [r[2 + i] for r in inside]
                mean = statistics.fmean(vals) if vals else None
                std = statistics.stdev(vals) if len(vals) > 1 else None
                assert row[f"{sig}_mean_{w}h"] == pytest.approx(mean, abs=1e-6), (m, t, sig, w)
                assert row[f"{sig}_std_{w}h"] == pytest.approx(std, abs=1e-6), (m, t, sig, w)
                checked_std += std is not None
        lw = params.long_window_hours
        for e in ERROR_IDS:
            expected = sum(1 for et, em, eid in errs if em == m and eid == e and t - timedelta(hours=lw) < et <= t)
            assert row[f"{e}_count_{lw}h"] == expected
        assert row["model"] == f"model{1 + m % 4}" and row["age"] == 10 + m
        assert row["date"] == t.date()
    assert checked_std > len(rows)  # the comparison was not vacuous


def test_no_leakage_from_rows_after_t(spark):
    tel, errs, maint = random_inputs(seed=11)
    cut = h(D2, 9)
    base = build(frames(spark, tel, errs, maint), D1, D3)
    later = [(cut + timedelta(hours=k), m) for k in (1, 3, 14, 30) for m in (1, 2, 3)]
    tel2 = [(t, m, *(v + 50 for v in vals)) if t > cut else (t, m, *vals) for t, m, *vals in tel]
    tel2 += [(t + timedelta(minutes=30), m, 1e3, 1e3, 1e3, 1e3) for t, m in later]
    errs2 = errs + [(t, m, e) for t, m in later for e in ERROR_IDS]
    maint2 = maint + [(t, m, c) for t, m in later for c in COMPONENTS]
    changed = build(frames(spark, tel2, errs2, maint2), D1, D3)
    up_to_cut = lambda rows: {k: v for k, v in rows.items() if k[1] <= cut}
    assert len(up_to_cut(base)) == 3 * 8 * 2 - 3 * 4
    assert_rows_close(up_to_cut(changed), up_to_cut(base))
    assert changed[(1, cut + timedelta(hours=3))] != base[(1, cut + timedelta(hours=3))]  # not vacuous


def test_range_equals_union_of_single_days(spark):
    inputs = frames(spark, *random_inputs(seed=3))
    whole = build(inputs, D1, D4)
    union = {}
    for day in (D1, D2, D3):
        union.update(build(inputs, day, day + timedelta(days=1)))
    assert len(whole) == 3 * 3 * 8
    assert_rows_close(union, whole)
    part = build(inputs, h(D2, 4), h(D2, 10))  # bounds need not be midnights
    assert_rows_close(part, {k: v for k, v in whole.items() if h(D2, 4) <= k[1] < h(D2, 10)})
    assert {t for _, t in part} == {h(D2, 6), h(D2, 9)}
    assert build(inputs, D2, D2) == {}  # an empty range is empty, not an error


def test_a_new_day_reuses_the_code_compiled_for_the_day_before(spark, compiled_classes):
    inputs = frames(spark, *random_inputs(seed=5))
    assert build(inputs, D1, D2)  # compiles the plan's classes (or finds those of an earlier test)
    before = compiled_classes()
    assert build(inputs, D2, D3)  # the next day: the same plan but for its data
    assert compiled_classes() == before


def test_maintenance_with_history_merges_and_finds_where_history_starts(spark):
    from datetime import datetime as _dt

    from pdm_assets.pipeline.features import maintenance_with_history

    schema = "datetime timestamp, machine_id int, comp string"
    days = spark.createDataFrame([(_dt(2015, 1, 2, 6), 1, "comp1")], schema)
    history = spark.createDataFrame([(_dt(2014, 6, 1, 6), 1, "comp2"), (_dt(2014, 9, 1, 6), 2, "comp3")], schema)
    first = _dt(2015, 1, 1)
    merged, start = maintenance_with_history(days, history, first)
    assert merged.count() == 3 and start == _dt(2014, 6, 1)
    _, start_without_history = maintenance_with_history(days, history.limit(0), first)
    assert start_without_history == first
