"""Maintenance alerts: the alarm episodes standing on each day, as a planner reads them.

An *alarm* is a scored grid point whose `predicted_failure` (the model's own alarm rule) is a
component; an *episode* is a run of alarms of one machine and component less than the gap apart
(`pipeline.events`: one visit, however many grid points it spans). An episode is *on* day D when
it stands at some moment of D: its first alarm is before D's end and its latest alarm (as known at
D's end) is less than a gap before D's start. It is still `open` at D's end when its latest alarm
is less than a gap before that end, else it `closed` during D.

Each day's rows are what was known at that day's end: alarms after it never shape an earlier
day's row, so a backfill gives the rows the daily runs gave. An episode that runs over midnight is
the same episode on both days (same `episode_id`, same first alarm), continued.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from pdm_assets.pipeline.schemas import COMPONENTS, PARTITION_COLUMN

ALERT_COLUMNS = (
    "machine_id", "component", "episode_id", "status", "first_alarm_at", "latest_alarm_at", "alarms",
    "hours_of_warning", "peak_probability", "latest_probability", "model_version", "decision_rule",
    "may_have_started_earlier", PARTITION_COLUMN,
)


def _day_bounds(spark: SparkSession, days: Sequence[date]) -> DataFrame:
    rows = [(d, datetime.combine(d, datetime.min.time()), datetime.combine(d + timedelta(days=1), datetime.min.time()))
            for d in days]
    return spark.createDataFrame(rows, f"{PARTITION_COLUMN} date, day_start timestamp, day_end timestamp")


def alarms_with_episodes(predictions: DataFrame, gap_hours: float) -> DataFrame:
    """The alarms of `predictions` (one row per machine and time), each with its episode's first alarm time."""
    probability = F.coalesce(*[F.when(F.col("predicted_failure") == c, F.col(f"probability_{c}")) for c in COMPONENTS])
    alarms = (predictions.where(F.col("predicted_failure") != "none")
              .select("machine_id", F.col("predicted_failure").alias("component"), "timestamp",
                      probability.alias("probability"), "model_version", "decision_rule"))
    by_key = Window.partitionBy("machine_id", "component").orderBy("timestamp")
    gap_seconds = gap_hours * 3600
    previous = F.lag("timestamp").over(by_key)
    starts = alarms.withColumn(
        "starts_episode",
        previous.isNull() | ((F.unix_timestamp("timestamp") - F.unix_timestamp(previous)) >= gap_seconds))
    numbered = starts.withColumn(
        "episode_number", F.sum(F.col("starts_episode").cast("int")).over(
            by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    return numbered.withColumn(
        "first_alarm_at", F.min("timestamp").over(Window.partitionBy("machine_id", "component", "episode_number")))


def alerts_by_day(predictions: DataFrame, days: Sequence[date], gap_hours: float,
                  window_start: datetime) -> DataFrame:
    """ALERT_COLUMNS: per day of `days`, the episodes on that day, from the predictions of the window up to it.

    `predictions` must cover `window_start` up to the end of the last day; an episode whose first
    alarm is less than a gap after `window_start` may have begun before it (`may_have_started_earlier`).
    """
    alarms = alarms_with_episodes(predictions, gap_hours)
    bounds = _day_bounds(predictions.sparkSession, days)
    known = alarms.join(F.broadcast(bounds), alarms["timestamp"] < bounds["day_end"])  # what each day's end knew
    per_day = (known.groupBy(PARTITION_COLUMN, "day_start", "day_end", "machine_id", "component", "first_alarm_at")
               .agg(F.max("timestamp").alias("latest_alarm_at"), F.count("*").alias("alarms"),
                    F.max("probability").alias("peak_probability"),
                    F.max_by("probability", "timestamp").alias("latest_probability"),
                    F.max_by("model_version", "timestamp").alias("model_version"),
                    F.max_by("decision_rule", "timestamp").alias("decision_rule")))
    gap = F.expr(f"INTERVAL {int(gap_hours * 3600)} SECONDS")
    on_day = per_day.where(F.col("latest_alarm_at") + gap > F.col("day_start"))
    return on_day.select(
        "machine_id", "component",
        F.concat_ws("-", F.col("machine_id").cast("string"), "component",
                    F.date_format("first_alarm_at", "yyyyMMdd'T'HHmm")).alias("episode_id"),
        F.when(F.col("latest_alarm_at") + gap > F.col("day_end"), F.lit("open")).otherwise(F.lit("closed"))
        .alias("status"),
        "first_alarm_at", "latest_alarm_at", F.col("alarms").cast("int").alias("alarms"),
        ((F.unix_timestamp("latest_alarm_at") - F.unix_timestamp("first_alarm_at")) / 3600.0).alias("hours_of_warning"),
        "peak_probability", "latest_probability", "model_version", "decision_rule",
        (F.col("first_alarm_at") < F.lit(window_start) + gap).alias("may_have_started_earlier"),
        PARTITION_COLUMN,
    )


def open_alerts(alerts: list[dict]) -> list[dict]:
    """A day's open alerts, the most probable first."""
    return sorted((a for a in alerts if a["status"] == "open"), key=lambda a: -a["latest_probability"])


def open_alerts_markdown(alerts: list[dict], limit: int = 20) -> str:
    """A markdown table of a day's open alerts, the most probable first (the planner's morning view)."""
    rows = open_alerts(alerts)
    if not rows:
        return "No open alerts."
    lines = ["| machine | component | latest probability | peak | warning since | hours | alarms | model |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {a['machine_id']} | {a['component']} | {a['latest_probability']:.2f} | {a['peak_probability']:.2f} "
              f"| {a['first_alarm_at']:%Y-%m-%d %H:%M} | {a['hours_of_warning']:.0f} | {a['alarms']} "
              f"| {a['model_version']} |" for a in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n{len(rows) - limit} more open alerts in the table.")
    return "\n".join(lines)
