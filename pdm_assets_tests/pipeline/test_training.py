"""Training window and training set: a window that rolls with the final days, time splits, purge gaps."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from pdm_assets.pipeline.training import (
    HOLDOUT, TRAIN, TUNE, TrainingWindow, TrainingWindowError, add_months, build_training_set, class_counts,
    final_days, rolling_window, split_spans,
)

YEAR = [date(2015, 1, 1) + timedelta(days=i) for i in range(365)]


def test_the_window_ends_at_the_newest_final_day_and_moves_with_it():
    first = rolling_window(YEAR, tuning_share=0)
    assert (first.train_start, first.holdout_start, first.holdout_end) == (
        date(2015, 1, 1), date(2015, 10, 1), date(2016, 1, 1))
    # a live timeline, two weeks later: the whole window moves and the newest days are used
    later = rolling_window(YEAR + [date(2016, 1, 1) + timedelta(days=i) for i in range(14)], tuning_share=0)
    assert (later.train_start, later.holdout_start, later.holdout_end) == (
        date(2015, 1, 15), date(2015, 10, 15), date(2016, 1, 15))
    assert later.describe() == "train 2015-01-15..2015-10-14, holdout 2015-10-15..2016-01-14"


def test_a_tuning_period_is_the_last_share_of_the_training_months():
    window = rolling_window(YEAR, tuning_share=0.25)
    assert window.tuning_start == date(2015, 10, 1) - timedelta(days=round(273 * 0.25))
    assert window.fit_end == window.tuning_start
    assert window.describe().startswith("train 2015-01-01..2015-07-24, tune 2015-07-25..2015-09-30, holdout")


def test_short_histories_train_on_what_there_is_and_explicit_bounds_win():
    window = rolling_window(YEAR[:200], tuning_share=0)  # 2015-01-01..2015-07-19 final
    assert (window.train_start, window.holdout_start, window.holdout_end) == (
        date(2015, 1, 1), date(2015, 4, 20), date(2015, 7, 20))
    window = rolling_window(YEAR, holdout_start=date(2015, 6, 1), holdout_end=date(2015, 7, 1), tuning_share=0)
    assert (window.train_start, window.holdout_start, window.holdout_end) == (
        date(2015, 1, 1), date(2015, 6, 1), date(2015, 7, 1))
    window = rolling_window(YEAR, train_months=2, holdout_months=1, train_start=date(2015, 1, 1), tuning_share=0)
    assert (window.holdout_start, window.holdout_end) == (date(2015, 3, 1), date(2015, 4, 1))
    assert add_months(date(2015, 1, 31), 1) == date(2015, 2, 28) and add_months(date(2015, 3, 31), -1) == date(2015, 2, 28)


def test_impossible_windows_fail_with_clear_messages():
    with pytest.raises(TrainingWindowError, match="No days with final labels"):
        rolling_window([])
    with pytest.raises(TrainingWindowError, match="after the last day with final labels 2015-03-31"):
        rolling_window(YEAR[:90], holdout_start=date(2015, 6, 1))
    with pytest.raises(TrainingWindowError, match="no training days before a 3-month holdout"):
        rolling_window(YEAR[:60])
    with pytest.raises(TrainingWindowError, match="train_start < holdout_start < holdout_end"):
        TrainingWindow(date(2015, 5, 1), date(2015, 4, 1), date(2015, 6, 1))


def _grid(spark, times, final=True):
    features = spark.createDataFrame(
        [(1, t, t.date(), float(i)) for i, t in enumerate(times)], "machine_id int, timestamp timestamp, date date, x double")
    labels = spark.createDataFrame(
        [(1, t, t.date(), "none", final if isinstance(final, bool) else final(t)) for t in times],
        "machine_id int, timestamp timestamp, date date, label string, final boolean")
    return features, labels


def test_training_set_splits_by_time_and_purges_labels_that_look_into_the_next_period(spark):
    # One machine, 3-hour grid from Jan 1 12:00, horizon 6 h; tuning from Jan 2, holdout from Jan 3.
    times = [datetime(2015, 1, 1, 12) + timedelta(hours=3 * i) for i in range(16)]
    features, labels = _grid(spark, times)
    window = TrainingWindow(date(2015, 1, 1), date(2015, 1, 3), date(2015, 1, 4), tuning_start=date(2015, 1, 2))
    rows = build_training_set(features, labels, window, horizon_hours=6)
    got = {(r["timestamp"].strftime("%d %H"), r["split"]) for r in rows.collect()}
    # 21:00 labels failures in (21:00, 03:00], which the next period's rows also predict: purged.
    assert got == {("01 12", TRAIN), ("01 15", TRAIN), ("01 18", TRAIN),
                   ("02 00", TUNE), ("02 03", TUNE), ("02 06", TUNE), ("02 09", TUNE), ("02 12", TUNE),
                   ("02 15", TUNE), ("02 18", TUNE),
                   ("03 00", HOLDOUT), ("03 03", HOLDOUT), ("03 06", HOLDOUT), ("03 09", HOLDOUT)}
    assert split_spans(rows) == {TRAIN: (date(2015, 1, 1),) * 2, TUNE: (date(2015, 1, 2),) * 2,
                                 HOLDOUT: (date(2015, 1, 3),) * 2}
    assert class_counts(rows)[TRAIN]["none"] == 3 and class_counts(rows)[HOLDOUT]["comp1"] == 0


def test_labels_that_are_not_final_never_train_or_judge(spark):
    times = [datetime(2015, 1, 2) + timedelta(hours=3 * i) for i in range(16)]  # Jan 2 and Jan 3
    features, labels = _grid(spark, times, final=lambda t: t.day == 2)
    assert final_days(labels) == [date(2015, 1, 2)]
    rows = build_training_set(features, labels, TrainingWindow(date(2015, 1, 1), date(2015, 1, 3), date(2015, 1, 4)), 3)
    assert {r["split"] for r in rows.collect()} == {TRAIN}  # Jan 3's provisional labels are gone
