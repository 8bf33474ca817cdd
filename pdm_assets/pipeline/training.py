"""The training set: features joined with labels, split by time into a training and a holdout window.

No random split: a model is judged on days after every day it learned from, as it will be used.
Training rows whose label horizon reaches into the holdout are dropped (a purge gap of one
horizon), so no holdout failure leaks into a training label.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.grid import ts_literal
from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.schemas import PARTITION_COLUMN

TRAIN, HOLDOUT = "train", "holdout"


class TrainingWindowError(ValueError):
    """The training or holdout window is empty, inverted or outside the data."""


@dataclass(frozen=True)
class TrainingWindow:
    """Train on [train_start, holdout_start), evaluate on [holdout_start, holdout_end); days, end exclusive."""

    train_start: date
    holdout_start: date
    holdout_end: date

    def __post_init__(self) -> None:
        if not self.train_start < self.holdout_start < self.holdout_end:
            raise TrainingWindowError(
                f"Training window must satisfy train_start < holdout_start < holdout_end; got "
                f"{self.train_start} / {self.holdout_start} / {self.holdout_end}"
            )

    def describe(self) -> str:
        last_train = self.holdout_start - timedelta(days=1)
        last_holdout = self.holdout_end - timedelta(days=1)
        return f"train {self.train_start}..{last_train}, holdout {self.holdout_start}..{last_holdout}"


def add_months(day: date, months: int) -> date:
    """The same day-of-month `months` later (clipped to the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_window(
    days_present: Sequence[date],
    train_months: int = 9,
    holdout_months: int = 3,
    train_start: Optional[date] = None,
    holdout_start: Optional[date] = None,
    holdout_end: Optional[date] = None,
) -> TrainingWindow:
    """The first `train_months` of the days present for training, the next `holdout_months` held out.

    Explicit bounds win over the month counts; the holdout never runs past the last day present.
    """
    if not days_present:
        raise TrainingWindowError("No labelled days to train on: materialize machine_features and failure_labels first.")
    first, last = min(days_present), max(days_present)
    start = train_start or first
    split = holdout_start or add_months(start, train_months)
    end = min(holdout_end or add_months(split, holdout_months), last + timedelta(days=1))
    if split > last:
        raise TrainingWindowError(
            f"The holdout would start on {split}, after the last labelled day {last}: not enough days "
            f"for {train_months} months of training plus a holdout (days present: {first}..{last})."
        )
    return TrainingWindow(start, split, end)


def build_training_set(
    features: DataFrame, labels: DataFrame, window: TrainingWindow, horizon_hours: int
) -> DataFrame:
    """Feature rows with their label and a `split` column (train/holdout) inside the window."""
    split_at = datetime.combine(window.holdout_start, time())
    purge_from = split_at - timedelta(hours=horizon_hours)
    day = F.col(PARTITION_COLUMN)
    in_window = (day >= F.lit(window.train_start)) & (day < F.lit(window.holdout_end))
    joined = features.where(in_window).join(
        labels.where(in_window).select("machine_id", "timestamp", "label"), ["machine_id", "timestamp"], "inner"
    )
    ts = F.col("timestamp")
    split = F.when(ts >= ts_literal(split_at), F.lit(HOLDOUT)).when(ts <= ts_literal(purge_from), F.lit(TRAIN))
    return joined.withColumn("split", split).where(F.col("split").isNotNull())


def class_counts(training_set: DataFrame) -> dict[str, dict[str, int]]:
    """{split: {label: rows}} for every split and label class (zeros included), from one job."""
    rows = training_set.groupBy("split", "label").count().collect()
    counts = {s: {c: 0 for c in LABEL_CLASSES} for s in (TRAIN, HOLDOUT)}
    for r in rows:
        counts[r["split"]][r["label"]] = r["count"]
    return counts


def split_spans(training_set: DataFrame) -> str:
    """The days each split actually covers, e.g. 'train 2015-01-01..2015-09-30, holdout ...'."""
    rows = training_set.groupBy("split").agg(F.min(PARTITION_COLUMN).alias("lo"), F.max(PARTITION_COLUMN).alias("hi"))
    spans = {r["split"]: f"{r['lo']}..{r['hi']}" for r in rows.collect()}
    return f"train {spans.get(TRAIN, '-')}, holdout {spans.get(HOLDOUT, '-')}"
