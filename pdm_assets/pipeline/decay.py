"""Model decay: K of the last N judged days below what the model showed on its holdout.

One day holds about two failures per 100 machines, too few for a figure of its own, so each day's
realized figure is pooled over the judged days of a trailing window ending on it (a week by
default), the way the holdout figure is pooled over its months; a window with too few failures has
no figure. Only days after the last one the version learned from count: the days of its training
and tuning are not live evidence. The rule then counts, among the last N days that have a figure,
those below the holdout figure minus a margin; K or more is decay.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping, Optional, Sequence

from pdm_assets.pipeline.schemas import PARTITION_COLUMN

DECAY_METRICS = ("event_recall", "alarm_precision", "macro_f1")


@dataclass(frozen=True)
class DecayRule:
    """Which realized figure is watched, and how many low days of how many make decay."""

    metric: str = "event_recall"
    days: int = 7  # N: the last N days with a figure
    below: int = 3  # K: this many of them under the holdout figure minus the margin
    margin: float = 0.15
    pool_days: int = 7  # each day's figure pools the judged days of this trailing window
    min_events: int = 3  # a window with fewer failures (or alarm episodes) than this has no figure

    def __post_init__(self) -> None:
        if self.metric not in DECAY_METRICS:
            raise ValueError(f"decay metric must be one of {', '.join(DECAY_METRICS)}, got {self.metric!r}")
        if not 1 <= self.below <= self.days:
            raise ValueError(f"decay needs 1 <= K <= N, got K={self.below}, N={self.days}")
        if self.pool_days < 1 or self.margin < 0 or self.min_events < 1:
            raise ValueError(f"decay needs pool_days >= 1, margin >= 0 and min_events >= 1, got {self.pool_days}, "
                             f"{self.margin}, {self.min_events}")

    def describe(self) -> str:
        return (f"{self.below} of the last {self.days} days with {self.metric} (pooled over {self.pool_days} days, "
                f"at least {self.min_events} events) below the holdout figure - {self.margin:g}")


@dataclass(frozen=True)
class DecayVerdict:
    """The rule applied to one model version's realized figures."""

    rule: DecayRule
    reference: float  # the holdout figure
    figures: list[tuple[date, float]]  # (day, pooled figure) of the days that have one, oldest first
    first_decayed_day: Optional[date]  # the first day on which the rule held, if it ever did
    below: list[date] = field(default_factory=list)  # of the last N days, those under the threshold

    @property
    def threshold(self) -> float:
        return self.reference - self.rule.margin

    @property
    def decayed(self) -> bool:
        return len(self.below) >= self.rule.below

    def describe(self) -> str:
        considered = self.figures[-self.rule.days:]
        if not considered:
            return f"No judged day with a {self.rule.metric} yet."
        head = (f"{len(self.below)} of the last {len(considered)} days below {self.threshold:.2f} "
                f"(holdout {self.rule.metric} {self.reference:.2f} - {self.rule.margin:g})")
        return head + (f": decayed since {self.first_decayed_day}" if self.decayed else "")


def pooled_figures(outcomes: Sequence[Mapping], metric: str, pool_days: int,
                   min_events: int = 1) -> list[tuple[date, Optional[float]]]:
    """(day, figure) per judged day, pooled over the judged days of the trailing `pool_days` window.

    `outcomes` are prediction_outcomes rows of one model version (date, rows, macro_f1, failures,
    warned, episodes, false_episodes). A window with fewer than `min_events` failures (alarm
    episodes, for precision) has no figure: one missed failure in a quiet week is not decay.
    """
    rows = sorted(outcomes, key=lambda r: r[PARTITION_COLUMN])
    pooled = []
    for row in rows:
        day = row[PARTITION_COLUMN]
        window = [r for r in rows if day - timedelta(days=pool_days) < r[PARTITION_COLUMN] <= day]
        pooled.append((day, _pool(window, metric, min_events)))
    return pooled


def _pool(window: Sequence[Mapping], metric: str, min_events: int) -> Optional[float]:
    if metric == "event_recall":
        failures = sum(r["failures"] for r in window)
        return sum(r["warned"] for r in window) / failures if failures >= min_events else None
    if metric == "alarm_precision":
        episodes = sum(r["episodes"] for r in window)
        return sum(r["episodes"] - r["false_episodes"] for r in window) / episodes if episodes >= min_events else None
    rows = sum(r["rows"] for r in window)
    return sum(r["macro_f1"] * r["rows"] for r in window) / rows if rows else None


def judge_decay(figures: Sequence[tuple[date, Optional[float]]], reference: float, rule: DecayRule) -> DecayVerdict:
    """Apply the K-of-N rule to the latest days, and find the first day on which it held."""
    defined = [(day, value) for day, value in figures if value is not None]
    threshold = reference - rule.margin

    def low_days(upto: int) -> list[date]:
        return [day for day, value in defined[max(0, upto - rule.days):upto] if value < threshold]

    first = next((defined[i - 1][0] for i in range(1, len(defined) + 1) if len(low_days(i)) >= rule.below), None)
    return DecayVerdict(rule, reference, defined, first, low_days(len(defined)))
