"""landing_zone_sensor over several ticks, the cursor carried over as the daemon does (no Spark)."""
from __future__ import annotations

import json
import os
from datetime import date, timedelta

import pytest
from dagster import Definitions, SensorResult, SkipReason, build_sensor_context, instance_for_test

from pdm_assets.automation.landing_sensor import build_landing_zone_sensor, day_fingerprint, days_to_run
from pdm_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.partitions import daily_partitions
from pdm_assets.pipeline.landing_files import day_file
from pdm_assets.simulator import append, generate
from pdm_assets.simulator.writer import write_bytes

FIRST = date(2015, 1, 1)
LAST_PARTITION = date(2015, 1, 9)  # PDM_END_DATE 2015-01-10 is exclusive


pytestmark = pytest.mark.usefixtures("no_spark_started")


@pytest.fixture
def watched(pdm_home):
    """(sensor, definitions holding it, landing dir, Dagster instance) for a 9-day timeline."""
    settings = Settings.from_env({"PDM_HOME": str(pdm_home), "PDM_START_DATE": FIRST.isoformat(),
                                  "PDM_END_DATE": (LAST_PARTITION + timedelta(days=1)).isoformat()})
    defs = build_definitions(settings)
    job = next(j for j in defs.jobs if j.name == "features_job")
    sensor = build_landing_zone_sensor(job, daily_partitions(settings.start, settings.end))
    # Only this sensor: the project's own Definitions may already wire one of the same name.
    own = Definitions(assets=list(defs.assets), jobs=list(defs.jobs), sensors=[sensor], resources=defs.resources)
    with instance_for_test() as instance:
        yield sensor, own, settings.landing_dir, instance


def _tick(watched, cursor):
    """(result, [(range start, range end)], run keys, cursor after) of one evaluation."""
    sensor, defs, _, instance = watched
    with build_sensor_context(instance=instance, cursor=cursor, resources={"landing": defs.resources["landing"]},
                              definitions=defs, sensor_name=sensor.name) as context:
        result = sensor(context)
    if isinstance(result, SensorResult):
        requests = list(result.run_requests or [])
        after = result.cursor if result.cursor is not None else cursor
    else:
        requests, after = [], cursor
    ranges = [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests]
    return result, ranges, [r.run_key for r in requests], after


def _skipped(result) -> bool:
    return isinstance(result, SkipReason) or (isinstance(result, SensorResult) and not result.run_requests
                                              and result.skip_reason is not None)


def test_bursts_become_one_run_per_range_and_unchanged_files_are_skipped(watched):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST, days=3, seed=3, progress=False)

    result, ranges, keys, cursor = _tick(watched, None)  # first look: the whole arrived range, one run
    assert ranges == [("2015-01-01", "2015-01-03")]
    assert sorted(json.loads(cursor)) == ["2015-01-01", "2015-01-02", "2015-01-03"]
    first_keys = keys

    result, ranges, _, again = _tick(watched, cursor)  # nothing changed
    assert isinstance(result, SkipReason) and ranges == [] and again == cursor

    append(landing, days=4)  # a burst: 2015-01-04 .. 2015-01-07
    result, ranges, keys, cursor = _tick(watched, cursor)
    # One run; it starts a day early so the labels of 01-03 see the failures of 01-04.
    assert ranges == [("2015-01-03", "2015-01-07")]
    assert keys != first_keys and len(set(keys)) == 1


def test_a_day_counts_only_once_its_fourth_dataset_has_its_final_name(watched):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST, days=3, seed=3, progress=False)
    cursor = _tick(watched, None)[3]
    append(landing, days=1)  # 2015-01-04, then pretend its failures file is still being written
    final = day_file(landing, "failures", date(2015, 1, 4))
    temp = final.with_name(f".{final.name}.tmp-12345")
    os.replace(final, temp)

    result, ranges, _, cursor = _tick(watched, cursor)
    assert _skipped(result) and ranges == []
    assert "2015-01-04" not in json.loads(cursor)

    os.replace(temp, final)  # the writer's atomic rename: now the day is complete
    result, ranges, _, cursor = _tick(watched, cursor)
    assert ranges == [("2015-01-03", "2015-01-04")]
    assert "2015-01-04" in json.loads(cursor)


def test_a_rewritten_file_requests_its_day_again(watched):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST, days=5, seed=3, progress=False)
    cursor = _tick(watched, None)[3]
    old = day_file(landing, "telemetry", date(2015, 1, 3))
    lines = old.read_bytes().splitlines(keepends=True)
    write_bytes(old, b"".join(lines[:-1]))  # a corrected delivery: one row fewer

    result, ranges, keys, after = _tick(watched, cursor)
    # The day, the day before (its labels read these failures), the day after (its features read back).
    assert ranges == [("2015-01-02", "2015-01-04")]
    assert json.loads(after)["2015-01-03"] != json.loads(cursor)["2015-01-03"]
    assert json.loads(after)["2015-01-04"] == json.loads(cursor)["2015-01-04"]
    assert _skipped(_tick(watched, after)[0])


def test_the_decision_survives_a_restart_from_the_stored_cursor(watched):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST, days=3, seed=3, progress=False)
    stored = _tick(watched, None)[3]
    append(landing, days=2)

    _, ranges, keys, after = _tick(watched, stored)
    # A new process sees only the cursor string Dagster stored: the same decision, the same run
    # keys (so Dagster would not launch the run twice if the first cursor update was lost) ...
    restarted = _tick(watched, str(stored))
    assert (restarted[1], restarted[2], restarted[3]) == (ranges, keys, after)
    # ... and once the new cursor is stored, nothing more.
    assert _skipped(_tick(watched, after)[0])
    assert _tick(watched, after)[3] == after


def test_days_outside_the_partitions_are_ignored(watched, capfd):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST - timedelta(days=1), days=LAST_PARTITION.day + 2, seed=3,
             progress=False)  # 2014-12-31 .. 2015-01-10: one day before the timeline, one after
    _, ranges, _, cursor = _tick(watched, None)
    assert ranges == [("2015-01-01", "2015-01-09")]
    assert sorted(json.loads(cursor)) == [(FIRST + timedelta(days=i)).isoformat() for i in range(9)]
    logged = capfd.readouterr().err
    assert ("Ignoring landing days outside the partitions (2015-01-01..2015-01-09): "
            "2 day(s): 2014-12-31, 2015-01-10") in logged


def test_dagster_accepts_the_requests_and_the_sensor_starts_stopped(watched):
    sensor, defs, landing, instance = watched
    generate(landing, machines=2, start=FIRST, days=2, seed=3, progress=False)
    with build_sensor_context(instance=instance, resources={"landing": defs.resources["landing"]},
                              definitions=defs, sensor_name=sensor.name) as context:
        data = sensor.evaluate_tick(context)  # what the daemon runs: resolves the requests against the job
    [request] = data.run_requests
    assert request.tags[RANGE_START_TAG] == "2015-01-01" and request.tags[RANGE_END_TAG] == "2015-01-02"
    assert json.loads(data.cursor) == {d: day_fingerprint(str(landing), date.fromisoformat(d))
                                       for d in ("2015-01-01", "2015-01-02")}
    assert sensor.minimum_interval_seconds == 30 and sensor.default_status.value == "STOPPED"
    assert "first evaluation" in sensor.description


def test_a_day_that_goes_incomplete_leaves_the_cursor_and_counts_again_when_back(watched):
    _, _, landing, _ = watched
    generate(landing, machines=2, start=FIRST, days=4, seed=3, progress=False)
    cursor = _tick(watched, None)[3]
    errors = day_file(landing, "errors", date(2015, 1, 2))
    kept = errors.read_bytes()
    errors.unlink()  # withdrawn by the producer
    result, ranges, _, cursor = _tick(watched, cursor)
    assert _skipped(result) and ranges == [] and "2015-01-02" not in json.loads(cursor)
    assert "1 day(s) no longer complete" in result.skip_reason.skip_message
    write_bytes(errors, kept)
    # Back again, after 01-03 was processed without it: the day and its neighbours on both sides.
    assert _tick(watched, cursor)[1] == [("2015-01-01", "2015-01-03")]


def test_days_to_run_reach_only_complete_neighbours():
    d = [(date(2015, 1, 1) + timedelta(days=i)).isoformat() for i in range(8)]
    seen = {d[0]: "a", d[1]: "a", d[3]: "a", d[4]: "a"}  # d[2] was missing
    current = {**seen, d[2]: "b", d[5]: "b"}  # d[2] arrives late, d[5] is new
    two_ahead = days_to_run(seen, current, lookahead_days=2, lookback_days=1)
    assert [x.isoformat() for x in two_ahead] == [d[0], d[1], d[2], d[3], d[4], d[5]]
    # Nothing is added that is not complete now (d[6], d[7] never arrived).
    assert [x.isoformat() for x in days_to_run(seen, {**seen, d[5]: "b"}, 1, 3)] == [d[4], d[5]]
    assert days_to_run(current, current, 1, 1) == []
