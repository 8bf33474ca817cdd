"""How good a fitted model and its decision rule are on labelled rows: row-level and event-level, from one scoring.

The scored rows are kept in memory for the two small collections (the confusion counts, the alarms).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional, Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.decision import DecisionRule, Scored
from pdm_assets.pipeline.events import DEFAULT_GAP_HOURS, Event, EventEvaluation, evaluate_events
from pdm_assets.pipeline.labels import NO_FAILURE
from pdm_assets.pipeline.model import Evaluation, evaluation_from_counts
from pdm_assets.pipeline.schemas import COMPONENTS, PARTITION_COLUMN
from pdm_assets.pipeline.scoring import predict


@dataclass(frozen=True)
class Judgement:
    """Row-level and event-level quality over one period."""

    rows: Evaluation
    events: EventEvaluation
    start: date
    end: date  # exclusive

    def gate_figures(self) -> dict[str, Optional[float]]:
        """What the quality gate compares."""
        return {"macro_f1": self.rows.macro_f1, "event_recall": self.events.event_recall,
                "alarm_precision": self.events.alarm_precision}


def midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def failure_events(failures: DataFrame, start: date, end: date, horizon_hours: int) -> list[Event]:
    """The failures of raw_failures in (start, end + horizon]: the ones rows of [start, end) could warn."""
    upper = midnight(end) + timedelta(hours=horizon_hours)
    rows = failures.where((F.col("datetime") > F.lit(midnight(start))) & (F.col("datetime") <= F.lit(upper))) \
        .select("machine_id", "failure", "datetime").collect()
    return [Event(int(r["machine_id"]), r["failure"], r["datetime"]) for r in rows]


def judge(model: PipelineModel, rule: DecisionRule, rows: DataFrame, failures: Sequence[Event], start: date,
          end: date, horizon_hours: int, gap_hours: float = DEFAULT_GAP_HOURS) -> Judgement:
    """Score labelled rows of [start, end) under `rule` and measure them both ways."""
    predicted = predict(model, rows, rule, keep=("label",)).persist()
    try:
        cells = {(r["label"], r["predicted_failure"]): r["count"]
                 for r in predicted.groupBy("label", "predicted_failure").count().collect()}
        alarms = [Event(int(r["machine_id"]), r["predicted_failure"], r["timestamp"]) for r in
                  predicted.where(F.col("predicted_failure") != NO_FAILURE)
                  .select("machine_id", "timestamp", "predicted_failure").collect()]
        machines = predicted.select("machine_id").distinct().count()
    finally:
        predicted.unpersist()
    events = evaluate_events(alarms, failures, horizon_hours, machines, midnight(start), midnight(end), gap_hours)
    return Judgement(evaluation_from_counts(cells), events, start, end)


def scored_points(model: PipelineModel, rows: DataFrame, floor: float) -> tuple[list[Scored], int]:
    """Grid points where some component's probability reaches `floor` (what threshold choice looks at), and
    the machine count."""
    predicted = predict(model, rows, DecisionRule()).persist()
    try:
        columns = [f"probability_{c}" for c in COMPONENTS]
        likely = predicted.where(F.greatest(*[F.col(c) for c in columns]) >= F.lit(floor))
        points = [Scored(int(r["machine_id"]), r["timestamp"], {c: float(r[f"probability_{c}"]) for c in COMPONENTS})
                  for r in likely.select("machine_id", "timestamp", *columns).collect()]
        machines = predicted.select("machine_id").distinct().count()
    finally:
        predicted.unpersist()
    return points, machines


def days_of(rows: DataFrame) -> tuple[Optional[date], Optional[date]]:
    """First and last day of some rows."""
    row = rows.agg(F.min(PARTITION_COLUMN).alias("lo"), F.max(PARTITION_COLUMN).alias("hi")).first()
    return (row["lo"], row["hi"]) if row else (None, None)
