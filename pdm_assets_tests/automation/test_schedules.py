"""daily_scoring_schedule and weekly_retraining_schedule, evaluated as the daemon would (no Spark)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from dagster import Definitions, RunRequest, SkipReason, build_schedule_context, instance_for_test

from pdm_assets.automation.schedules import build_schedules, previous_utc_day
from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.partitions import daily_partitions

LA = ZoneInfo("America/Los_Angeles")


pytestmark = pytest.mark.usefixtures("no_spark_started")


@pytest.fixture
def scheduled(pdm_home):
    """({name: schedule}, definitions holding them, instance) for the 2015-01-01 .. 2015-03-31 timeline."""
    settings = Settings.from_env({"PDM_HOME": str(pdm_home), "PDM_START_DATE": "2015-01-01",
                                  "PDM_END_DATE": "2015-04-01"})
    defs = build_definitions(settings)
    jobs = {j.name: j for j in defs.jobs}
    partitions = daily_partitions(settings.start, settings.end)
    schedules = build_schedules(jobs["scoring_job"], jobs["training_job"], partitions)
    # Only these schedules: the project's own Definitions may already wire ones of the same names.
    own = Definitions(assets=list(defs.assets), jobs=list(defs.jobs), schedules=schedules, resources=defs.resources)
    with instance_for_test() as instance:
        yield {s.name: s for s in schedules}, own, instance


def _evaluate(scheduled, name: str, when: datetime):
    """The daemon's evaluation: requests resolved against the job (partition key validated, tags added)."""
    schedules, defs, instance = scheduled
    repo = defs.get_repository_def()
    with build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repo) as context:
        return repo.get_schedule_def(name).evaluate_tick(context)


def test_the_previous_day_is_the_last_whole_utc_day_before_the_tick():
    assert previous_utc_day(datetime(2015, 3, 10, 7, 30, tzinfo=LA)) == date(2015, 3, 9)  # 14:30 UTC (PDT)
    assert previous_utc_day(datetime(2015, 1, 10, 7, 30, tzinfo=LA)) == date(2015, 1, 9)  # 15:30 UTC (PST)
    assert previous_utc_day(datetime(2015, 3, 10, 17, 30, tzinfo=LA)) == date(2015, 3, 10)  # 00:30 UTC next day
    with pytest.raises(ValueError):
        previous_utc_day(datetime(2015, 3, 10, 7, 30))


def test_a_morning_tick_scores_the_previous_day(scheduled):
    schedules, _, _ = scheduled
    daily = schedules["daily_scoring_schedule"]
    assert (daily.cron_schedule, daily.execution_timezone, daily.job_name) == (
        "30 7 * * *", "America/Los_Angeles", "scoring_job")
    assert daily.default_status.value == "STOPPED" and "previous day" in daily.description

    data = _evaluate(scheduled, "daily_scoring_schedule", datetime(2015, 3, 10, 7, 30, tzinfo=LA))
    [request] = data.run_requests
    assert request.partition_key == "2015-03-09"
    assert request.tags["dagster/partition"] == "2015-03-09"  # Dagster accepted the key for the job
    assert request.run_key == "daily-scoring-2015-03-09"
    # The last partition is still scored on the morning after it.
    assert _evaluate(scheduled, "daily_scoring_schedule",
                     datetime(2015, 4, 1, 7, 30, tzinfo=LA)).run_requests[0].partition_key == "2015-03-31"


@pytest.mark.parametrize("when", [datetime(2015, 1, 1, 7, 30, tzinfo=LA),  # the day before is 2014-12-31
                                  datetime(2015, 4, 2, 7, 30, tzinfo=LA),  # 2015-04-01: past the end
                                  datetime(2026, 6, 1, 7, 30, tzinfo=LA)])
def test_a_tick_outside_the_timeline_skips(scheduled, when):
    data = _evaluate(scheduled, "daily_scoring_schedule", when)
    assert not data.run_requests and "is not a partition of the timeline" in data.skip_message


def test_the_direct_call_returns_a_request_or_a_skip(scheduled):
    schedules, _, instance = scheduled
    daily = schedules["daily_scoring_schedule"]
    morning = datetime(2015, 2, 1, 7, 30, tzinfo=LA)
    with build_schedule_context(instance=instance, scheduled_execution_time=morning) as c:
        assert isinstance(daily(c), RunRequest)
    before = datetime(2014, 6, 1, tzinfo=timezone.utc)
    with build_schedule_context(instance=instance, scheduled_execution_time=before) as c:
        assert isinstance(daily(c), SkipReason)


def test_weekly_retraining_runs_the_unpartitioned_training_job(scheduled):
    schedules, _, _ = scheduled
    weekly = schedules["weekly_retraining_schedule"]
    assert (weekly.cron_schedule, weekly.execution_timezone, weekly.job_name) == (
        "0 8 * * 1", "America/Los_Angeles", "training_job")
    assert weekly.default_status.value == "STOPPED" and "quality gate" in weekly.description
    data = _evaluate(scheduled, "weekly_retraining_schedule", datetime(2015, 3, 9, 8, 0, tzinfo=LA))  # a Monday
    [request] = data.run_requests
    assert request.partition_key is None and "dagster/partition" not in request.tags
