"""maintenance_alerts: the alarm episodes standing on each day, the planner's morning view."""

from datetime import datetime, time, timedelta
from typing import Iterator

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
)
from pyspark.sql import DataFrame

from pdm_assets.assets.wiring import (
    ROW_COUNT, TABLE_IO_MANAGER, days_record, record_days, spark_asset, step_resources,
)
from pdm_assets.names import FAILURE_PREDICTIONS, MAINTENANCE_ALERTS
from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline.text import first_few
from pdm_assets.pipeline.alerts import alerts_by_day, open_alerts, open_alerts_markdown
from pdm_assets.pipeline.events import episode_gap_hours
from pdm_assets.resources.tables import (
    ALLOW_MISSING_DAYS, MissingUpstreamDaysError,
)

# Episodes are rebuilt from this many days of predictions before each day: a longer one is cut
# there (and flagged `may_have_started_earlier`); a warning stands hours before a failure, not weeks.
ALERT_LOOKBACK_DAYS = 14


def build_alert_assets(partitions: DailyPartitionsDefinition, cadence_hours: int) -> list[AssetsDefinition]:
    """maintenance_alerts for one timeline and grid."""
    gap_hours = episode_gap_hours(cadence_hours)
    lookback = TimeWindowPartitionMapping(start_offset=-ALERT_LOOKBACK_DAYS, end_offset=0,
                                          allow_nonexistent_upstream_partitions=True)

    @spark_asset(
        group="scoring",
        description=f"Per machine and component: the alarm episodes standing on the day (alarms less than {gap_hours:g} h "
                    "apart are one), first and latest alarm, peak and latest probability, hours of warning, model.",
        partitions_def=partitions,
        # Days before the timeline or not scored yet are absent; the run's own days are checked below.
        # failure_predictions writes its table itself (no output), so the table IO manager loads it.
        ins={FAILURE_PREDICTIONS: AssetIn(partition_mapping=lookback, metadata={ALLOW_MISSING_DAYS: True},
                                  input_manager_key=TABLE_IO_MANAGER)},
    )
    def maintenance_alerts(context: AssetExecutionContext, failure_predictions: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        step = step_resources(context)
        store = step.tables.store()
        scored = set(store.existing_days(FAILURE_PREDICTIONS, step.spark.session))
        unscored = [d.isoformat() for d in days if d not in scored]
        if unscored:
            raise MissingUpstreamDaysError(f"maintenance_alerts needs {FAILURE_PREDICTIONS} of {first_few(unscored)}: not scored")
        window_start = datetime.combine(days[0] - timedelta(days=ALERT_LOOKBACK_DAYS), time())
        commit = store.write(alerts_by_day(failure_predictions, days, gap_hours, window_start),
                             MAINTENANCE_ALERTS, days)
        # One row per episode and day: few enough to describe each day from the driver.
        stored = [r.asDict() for r in store.read(step.spark.session, MAINTENANCE_ALERTS, days, commit.version).collect()]
        by_day: dict[str, list[dict]] = {}
        for row in stored:
            by_day.setdefault(row["date"].isoformat(), []).append(row)
        record = days_record(days, lambda d: _day_figures(by_day.get(d, [])), store, commit)
        record_days(context, record)
        last = by_day.get(days[-1].isoformat(), [])
        rules = sorted({a["decision_rule"] for a in stored})
        top = open_alerts(last)[:5]
        yield MaterializeResult(metadata={
            **record.run,
            "open_alerts_table": MetadataValue.md(f"**Open at the end of {days[-1]}**\n\n" + open_alerts_markdown(last)),
            "top_open_alerts": MetadataValue.json([
                {"machine_id": a["machine_id"], "component": a["component"],
                 "probability": round(a["latest_probability"], 3), "hours_of_warning": a["hours_of_warning"]}
                for a in top]),
            "alarm_rule": MetadataValue.text("; ".join(rules) if rules else "no alarms in the run's days"),
            "episode_gap_hours": MetadataValue.float(float(gap_hours)),
            "lookback_days": MetadataValue.int(ALERT_LOOKBACK_DAYS),
        })

    return [maintenance_alerts]


def _day_figures(alerts: list[dict]) -> dict[str, MetadataValue]:
    """A day's materialization: its episodes, and the open ones as a table."""
    return {ROW_COUNT: MetadataValue.int(len(alerts)),
            "open_alerts": MetadataValue.int(sum(a["status"] == "open" for a in alerts)),
            "open_alerts_table": MetadataValue.md(open_alerts_markdown(alerts))}
