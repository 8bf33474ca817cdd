"""The training set: features joined with final labels, split by time into fit, tuning and holdout periods.

No random split: a model is judged on days after every day it learned from, as it will be used.
The window rolls with time: it ends at the newest day whose labels are final, the holdout is its
last `holdout_months`, the `train_months` before it train; the last part of those (a `tuning_share`)
is kept from the fit to choose the alarm thresholds. Rows whose label horizon reaches into the next
period are dropped (a purge gap of one horizon), so no later failure leaks into an earlier label.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.grid import ts_literal
from pdm_assets.pipeline.labels import FINAL, LABEL_CLASSES
from pdm_assets.pipeline.schemas import PARTITION_COLUMN

TRAIN, TUNE, HOLDOUT = "train", "tune", "holdout"
SPLITS = (TRAIN, TUNE, HOLDOUT)


class TrainingWindowError(ValueError):
    """The training or holdout window is empty, inverted or outside the data."""


@dataclass(frozen=True)
class TrainingWindow:
    """Fit on [train_start, tuning_start), tune on [tuning_start, holdout_start), judge on [holdout_start, holdout_end)."""

    train_start: date
    holdout_start: date
    holdout_end: date
    tuning_start: Optional[date] = None  # None: no tuning period (the arg-max rule)

    def __post_init__(self) -> None:
        if not self.train_start < self.holdout_start < self.holdout_end:
            raise TrainingWindowError(
                f"Training window must satisfy train_start < holdout_start < holdout_end; got "
                f"{self.train_start} / {self.holdout_start} / {self.holdout_end}"
            )
        if self.tuning_start is not None and not self.train_start < self.tuning_start < self.holdout_start:
            raise TrainingWindowError(f"The tuning period must start inside the training window; got {self.tuning_start}")

    @property
    def fit_end(self) -> date:
        """The day after the last day the model is fitted on."""
        return self.tuning_start or self.holdout_start

    def describe(self) -> str:
        def span(first: date, end: date) -> str:
            return f"{first}..{end - timedelta(days=1)}"

        tuning = f", tune {span(self.tuning_start, self.holdout_start)}" if self.tuning_start else ""
        return (f"train {span(self.train_start, self.fit_end)}{tuning}, "
                f"holdout {span(self.holdout_start, self.holdout_end)}")


def add_months(day: date, months: int) -> date:
    """The same day-of-month `months` later (or earlier), clipped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def rolling_window(
    final_days: Sequence[date],
    train_months: int = 9,
    holdout_months: int = 3,
    tuning_share: float = 0.25,
    train_start: Optional[date] = None,
    holdout_start: Optional[date] = None,
    holdout_end: Optional[date] = None,
) -> TrainingWindow:
    """The window that ends at the newest day whose labels are final: `holdout_months`, after `train_months`.

    Explicit bounds win over the month counts (an explicit start with counts runs forward from it);
    a window never reaches past the newest final day, and training starts no earlier than the first.
    """
    if not final_days:
        raise TrainingWindowError("No days with final labels to train on: materialize machine_features and "
                                  "failure_labels first (a day's labels are final once the next day's failures "
                                  "have been ingested).")
    first, last = min(final_days), max(final_days)
    newest_end = last + timedelta(days=1)
    if holdout_start is not None:
        end = min(holdout_end or add_months(holdout_start, holdout_months), newest_end)
        split = holdout_start
        start = train_start or max(first, add_months(split, -train_months))
    elif train_start is not None:
        start, split = train_start, add_months(train_start, train_months)
        end = min(holdout_end or add_months(split, holdout_months), newest_end)
    else:
        end = min(holdout_end or newest_end, newest_end)
        split = add_months(end, -holdout_months)
        start = max(first, add_months(split, -train_months))
    if split > last:
        raise TrainingWindowError(
            f"The holdout would start on {split}, after the last day with final labels {last}: not enough days "
            f"for {train_months} months of training plus a holdout (final days: {first}..{last}).")
    if split <= start:
        raise TrainingWindowError(
            f"Only {first}..{last} have final labels: no training days before a {holdout_months}-month holdout "
            f"starting {split}; wait for more days or set holdout_months lower.")
    tuning = None
    if tuning_share > 0:
        tuning = split - timedelta(days=max(1, round((split - start).days * tuning_share)))
        tuning = tuning if start < tuning < split else None
    return TrainingWindow(start, split, end, tuning)


def final_days(labels: DataFrame) -> list[date]:
    """Days all of whose label rows are final (one small aggregation)."""
    rows = labels.groupBy(PARTITION_COLUMN).agg(F.min(F.col(FINAL).cast("int")).alias("all_final")).collect()
    return sorted(r[PARTITION_COLUMN] for r in rows if r["all_final"] == 1)


def build_training_set(
    features: DataFrame, labels: DataFrame, window: TrainingWindow, horizon_hours: int
) -> DataFrame:
    """Feature rows with their final label and a `split` column (train/tune/holdout) inside the window."""
    day = F.col(PARTITION_COLUMN)
    in_window = (day >= F.lit(window.train_start)) & (day < F.lit(window.holdout_end))
    final_labels = labels.where(in_window & F.col(FINAL)).select("machine_id", "timestamp", "label")
    joined = features.where(in_window).join(final_labels, ["machine_id", "timestamp"], "inner")
    ts = F.col("timestamp")

    def begins(boundary: date) -> tuple:
        at = datetime.combine(boundary, time())
        return ts_literal(at), ts_literal(at - timedelta(hours=horizon_hours))

    holdout_at, holdout_purge = begins(window.holdout_start)
    split = F.when(ts >= holdout_at, F.lit(HOLDOUT))
    if window.tuning_start is not None:
        tune_at, tune_purge = begins(window.tuning_start)
        split = split.when((ts >= tune_at) & (ts <= holdout_purge), F.lit(TUNE)).when(ts <= tune_purge, F.lit(TRAIN))
    else:
        split = split.when(ts <= holdout_purge, F.lit(TRAIN))
    return joined.withColumn("split", split).where(F.col("split").isNotNull())


def class_counts(training_set: DataFrame) -> dict[str, dict[str, int]]:
    """{split: {label: rows}} for every split and label class (zeros included), from one job."""
    rows = training_set.groupBy("split", "label").count().collect()
    counts = {s: {c: 0 for c in LABEL_CLASSES} for s in SPLITS}
    for r in rows:
        counts[r["split"]][r["label"]] = r["count"]
    return counts


def split_spans(training_set: DataFrame) -> dict[str, tuple[date, date]]:
    """{split: (first day, last day)} the splits actually cover."""
    rows = training_set.groupBy("split").agg(F.min(PARTITION_COLUMN).alias("lo"), F.max(PARTITION_COLUMN).alias("hi"))
    return {r["split"]: (r["lo"], r["hi"]) for r in rows.collect()}


def describe_spans(spans: dict[str, tuple[date, date]]) -> str:
    """'train 2015-01-01..2015-07-31, tune ..., holdout ...' of `split_spans`."""
    return ", ".join(f"{s} {spans[s][0]}..{spans[s][1]}" for s in SPLITS if s in spans)


@dataclass(frozen=True)
class TrainingParams:
    """The training settings: window lengths, the tuning share and the alarm rule's target precision."""

    train_months: int = 9
    holdout_months: int = 3
    tuning_share: float = 0.25
    target_alarm_precision: float = 0.90

    def __post_init__(self) -> None:
        if self.train_months < 1 or self.holdout_months < 1:
            raise ValueError(f"train and holdout months must be at least 1; got {self.train_months}, "
                             f"{self.holdout_months}")
        if not 0 <= self.tuning_share < 1 or not 0 < self.target_alarm_precision <= 1:
            raise ValueError(f"tuning share must be in [0, 1) and the target precision in (0, 1]; got "
                             f"{self.tuning_share}, {self.target_alarm_precision}")
