"""Schedules: score yesterday's partition every morning, retrain every week."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from dagster import (
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from pdm_assets.automation.landing_sensor import AssetJob, partition_bounds

DEFAULT_SCORING_CRON = "30 7 * * *"
DEFAULT_RETRAIN_CRON = "0 8 * * 1"
DEFAULT_TIMEZONE = "America/Los_Angeles"


def previous_utc_day(scheduled: datetime) -> date:
    """The last whole UTC day before `scheduled`: the partitions are UTC days, whatever the cron's zone.

    At 07:30 in Los Angeles it is 14:30 or 15:30 UTC of the same calendar date, so this is the
    Los Angeles "yesterday" too, and that UTC day ended 7-8 hours earlier (its files had time to land).
    """
    if scheduled.tzinfo is None:
        raise ValueError(f"the scheduled time must carry a time zone; got {scheduled}")
    return scheduled.astimezone(timezone.utc).date() - timedelta(days=1)


def build_daily_scoring_schedule(
    job: AssetJob, partitions: DailyPartitionsDefinition, cron: str = DEFAULT_SCORING_CRON,
    timezone_name: str = DEFAULT_TIMEZONE,
) -> ScheduleDefinition:
    """daily_scoring_schedule: one run of `job` for the previous UTC day's partition."""

    @schedule(
        job=job, name="daily_scoring_schedule", cron_schedule=cron, execution_timezone=timezone_name,
        default_status=DefaultScheduleStatus.STOPPED,
        description=(f"At '{cron}' ({timezone_name}) runs {job.name} for the previous day's partition (the last "
                     "whole UTC day before the tick). Skips when that day is not a partition of the timeline "
                     "(before its start, or past the end of a closed timeline)."),
    )
    def daily_scoring_schedule(context: ScheduleEvaluationContext):
        day = previous_utc_day(context.scheduled_execution_time)
        bounds = partition_bounds(partitions)
        if bounds is None or not bounds[0] <= day <= bounds[1]:
            timeline = f"{bounds[0]}..{bounds[1]}" if bounds else "no partitions yet"
            return SkipReason(f"{day} (the day before this tick) is not a partition of the timeline ({timeline}).")
        # A one-day run is an ordinary partitioned run: the single-run assets accept a partition key.
        return RunRequest(run_key=f"daily-scoring-{day}", partition_key=day.isoformat(),
                          tags={"pdm/reason": f"daily scoring of {day}"})

    return daily_scoring_schedule


def build_weekly_retraining_schedule(
    job: AssetJob, cron: str = DEFAULT_RETRAIN_CRON, timezone_name: str = DEFAULT_TIMEZONE
) -> ScheduleDefinition:
    """weekly_retraining_schedule: one run of the (unpartitioned) training job."""
    return ScheduleDefinition(
        name="weekly_retraining_schedule", job=job, cron_schedule=cron, execution_timezone=timezone_name,
        default_status=DefaultScheduleStatus.STOPPED,
        description=(f"At '{cron}' ({timezone_name}) runs {job.name}: builds the training set from the labelled "
                     "days present, trains and registers a model; the quality gate decides whether it becomes "
                     "the champion (with champion_sensor on, recent days are then re-scored)."),
    )


def build_schedules(
    scoring_job: AssetJob, training_job: AssetJob, partitions: DailyPartitionsDefinition,
    cron: str = DEFAULT_SCORING_CRON, timezone: str = DEFAULT_TIMEZONE, retrain_cron: str = DEFAULT_RETRAIN_CRON,
) -> list[ScheduleDefinition]:
    """The daily scoring and weekly retraining schedules, both stopped until a user turns them on."""
    return [build_daily_scoring_schedule(scoring_job, partitions, cron, timezone),
            build_weekly_retraining_schedule(training_job, retrain_cron, timezone)]
