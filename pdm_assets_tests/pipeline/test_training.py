"""Training window and training set: time split, purge gap, clear errors for impossible windows."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from pdm_assets.pipeline.training import (
    HOLDOUT, TRAIN, TrainingWindow, TrainingWindowError, add_months, build_training_set, class_counts, default_window,
    split_spans,
)

YEAR = [date(2015, 1, 1) + timedelta(days=i) for i in range(365)]


def test_default_window_is_nine_months_then_three_of_the_days_present():
    window = default_window(YEAR)
    assert (window.train_start, window.holdout_start, window.holdout_end) == (
        date(2015, 1, 1), date(2015, 10, 1), date(2016, 1, 1))
    assert window.describe() == "train 2015-01-01..2015-09-30, holdout 2015-10-01..2015-12-31"


def test_holdout_is_clipped_to_the_last_day_and_explicit_bounds_win():
    days = YEAR[:300]  # up to 2015-10-27
    assert default_window(days).holdout_end == date(2015, 10, 28)
    window = default_window(YEAR, holdout_start=date(2015, 6, 1), holdout_end=date(2015, 7, 1))
    assert (window.train_start, window.holdout_start, window.holdout_end) == (
        date(2015, 1, 1), date(2015, 6, 1), date(2015, 7, 1))
    assert add_months(date(2015, 1, 31), 1) == date(2015, 2, 28)


def test_impossible_windows_fail_with_clear_messages():
    with pytest.raises(TrainingWindowError, match="No labelled days"):
        default_window([])
    with pytest.raises(TrainingWindowError, match="after the last labelled day 2015-03-31"):
        default_window(YEAR[:90])
    with pytest.raises(TrainingWindowError, match="train_start < holdout_start < holdout_end"):
        TrainingWindow(date(2015, 5, 1), date(2015, 4, 1), date(2015, 6, 1))


def test_training_set_splits_by_time_and_purges_labels_that_look_into_the_holdout(spark):
    # One machine, 3-hour grid around the split at 2015-01-03 00:00, horizon 6 h.
    times = [datetime(2015, 1, 2, 12) + timedelta(hours=3 * i) for i in range(8)]  # 12:00 .. 09:00 next day
    features = spark.createDataFrame(
        [(1, t, t.date(), float(i)) for i, t in enumerate(times)], "machine_id int, timestamp timestamp, date date, x double")
    labels = spark.createDataFrame(
        [(1, t, t.date(), "none") for t in times], "machine_id int, timestamp timestamp, date date, label string")
    window = TrainingWindow(date(2015, 1, 2), date(2015, 1, 3), date(2015, 1, 4))
    rows = build_training_set(features, labels, window, horizon_hours=6)
    got = {(r["timestamp"].strftime("%d %H"), r["split"]) for r in rows.collect()}
    # 21:00 of Jan 2 labels failures in (21:00, 03:00], which holdout rows also predict: purged.
    # 18:00 labels (18:00, 00:00]: no holdout row (t >= 00:00) looks at a failure that early.
    assert got == {("02 12", TRAIN), ("02 15", TRAIN), ("02 18", TRAIN), ("03 00", HOLDOUT), ("03 03", HOLDOUT),
                   ("03 06", HOLDOUT), ("03 09", HOLDOUT)}
    assert split_spans(rows) == "train 2015-01-02..2015-01-02, holdout 2015-01-03..2015-01-03"
    assert class_counts(rows)[TRAIN]["none"] == 3 and class_counts(rows)[HOLDOUT]["comp1"] == 0
