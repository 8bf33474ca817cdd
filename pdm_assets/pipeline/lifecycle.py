"""One training, start to verdict: fit, choose the alarm thresholds, judge on the holdout, compare with the champion.

Pure Spark and Python (no Dagster, no MLflow): the asset loads the champion and records the outcome.
The comparison is fair: challenger and champion are scored on the same holdout rows, and only on
rows after every day the champion learned from (plus its label horizon); when nothing of the
holdout is left, only the floors apply, and the outcome says so.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Optional, Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.decision import THRESHOLD_GRID, CurvePoint, DecisionRule, choose_rule
from pdm_assets.pipeline.evaluation import Judgement, failure_events, judge, midnight, scored_points
from pdm_assets.pipeline.events import Event, episode_gap_hours
from pdm_assets.pipeline.model import GateFloors, ModelConfig, fit_model, gate_decision
from pdm_assets.pipeline.schemas import PARTITION_COLUMN
from pdm_assets.pipeline.training import HOLDOUT, TRAIN, TUNE, class_counts, split_spans


@dataclass(frozen=True)
class Champion:
    """The model that holds the alias now, as the asset loaded it (or why it could not)."""

    version: str
    model: Optional[PipelineModel]
    rule: DecisionRule
    trained_through: Optional[date]  # the last day whose labels it learned from (thresholds included)
    load_error: Optional[str] = None


@dataclass(frozen=True)
class Comparison:
    """Challenger and champion on the same rows, or why there is no comparison."""

    champion_version: Optional[str]
    rows_from: Optional[date] = None  # the fair part of the holdout starts here
    challenger: Optional[Judgement] = None
    champion: Optional[Judgement] = None
    note: str = ""

    def macro_f1s(self) -> Optional[dict[str, float]]:
        """Both macro F1s on the same rows, for the gate; None without a comparison."""
        if self.challenger is None or self.champion is None:
            return None
        return {"candidate": self.challenger.rows.macro_f1, "champion": self.champion.rows.macro_f1}


@dataclass(frozen=True)
class Outcome:
    """A fitted model, its rule, what it scored, and the gate's verdict."""

    model: PipelineModel
    rule: DecisionRule
    curves: dict[str, list[CurvePoint]]
    holdout: Judgement
    comparison: Comparison
    passed: bool
    reasons: list[str]
    counts: dict[str, dict[str, int]]
    spans: dict[str, tuple[date, date]]
    train_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def trained_through(self) -> date:
        """The last day whose labels this model (fit and thresholds) learned from."""
        return self.spans.get(TUNE, self.spans[TRAIN])[1]


def _period(spans: dict[str, tuple[date, date]], split: str) -> tuple[date, date]:
    first, last = spans[split]
    return first, last + timedelta(days=1)


def _rows_from(rows: DataFrame, first: date) -> DataFrame:
    return rows.where(F.col(PARTITION_COLUMN) >= F.lit(first))


def train_and_judge(training_set: DataFrame, failures: DataFrame, model_config: ModelConfig, columns: Sequence[str],
                    horizon_hours: int, cadence_hours: int, target_precision: float, floors: GateFloors,
                    champion: Optional[Champion]) -> Outcome:
    """Fit on the training split, tune thresholds on the tuning split, judge on the holdout, gate."""
    gap = episode_gap_hours(cadence_hours)
    counts = class_counts(training_set)
    spans = split_spans(training_set)
    train = training_set.where(F.col("split") == TRAIN).persist()
    holdout = training_set.where(F.col("split") == HOLDOUT).persist()
    try:
        began = time.perf_counter()
        model = fit_model(train, model_config, columns, counts[TRAIN])
        train_seconds = time.perf_counter() - began
        notes: list[str] = []
        if TUNE in spans:
            tune_start, tune_end = _period(spans, TUNE)
            points, machines = scored_points(model, training_set.where(F.col("split") == TUNE), min(THRESHOLD_GRID))
            rule, curves = choose_rule(points, failure_events(failures, tune_start, tune_end, horizon_hours),
                                       horizon_hours, machines, midnight(tune_start), midnight(tune_end),
                                       target_precision, gap_hours=gap)
        else:
            rule, curves = DecisionRule(), {}
            notes.append("no tuning period: alarms are the arg-max class")
        holdout_start, holdout_end = _period(spans, HOLDOUT)
        holdout_failures = failure_events(failures, holdout_start, holdout_end, horizon_hours)
        judged = judge(model, rule, holdout, holdout_failures, holdout_start, holdout_end, horizon_hours, gap)
        comparison = _compare(model, rule, judged, champion, holdout, holdout_failures, horizon_hours, gap)
        passed, reasons = gate_decision(judged.gate_figures(), floors, comparison.macro_f1s())
        if champion is not None and champion.load_error:
            passed = False
            reasons = [f"the champion v{champion.version} could not be loaded to compare with: {champion.load_error}",
                       *reasons]
        return Outcome(model, rule, curves, judged, comparison, passed, reasons, counts, spans, train_seconds, notes)
    finally:
        train.unpersist()
        holdout.unpersist()


def _compare(model: PipelineModel, rule: DecisionRule, judged: Judgement, champion: Optional[Champion],
             holdout: DataFrame, failures: Sequence[Event], horizon_hours: int, gap: float) -> Comparison:
    if champion is None:
        return Comparison(None, note="no champion yet: the floors decide")
    if champion.model is None:
        return Comparison(champion.version, note=f"champion v{champion.version} could not be loaded: {champion.load_error}")
    first = judged.start
    if champion.trained_through is not None:
        # its last labels looked a horizon past its last day: start after both
        first = max(first, champion.trained_through + timedelta(days=1 + -(-horizon_hours // 24)))
    if first >= judged.end:
        return Comparison(champion.version, first,
                          note=f"champion v{champion.version} learned from days up to {champion.trained_through}, "
                               f"which covers this holdout ({judged.start}..{judged.end - timedelta(days=1)}): "
                               "only the floors apply")
    rows = holdout if first == judged.start else _rows_from(holdout, first)
    mine = judged if first == judged.start else judge(model, rule, rows, failures, first, judged.end, horizon_hours, gap)
    theirs = judge(champion.model, champion.rule, rows, failures, first, judged.end, horizon_hours, gap)
    part = "the whole holdout" if first == judged.start else f"the holdout from {first} (after the champion's training)"
    return Comparison(champion.version, first, mine, theirs, note=f"compared on {part}")
