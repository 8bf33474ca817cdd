"""Train our configuration and the reference job's on the same simulated year; judge both per row and per event.

    python -m pdm_assets.tools.benchmarks.training --home /tmp/bench100   # a PDM_HOME with the raw tables
    python -m pdm_assets.tools.benchmarks.training --machines 100          # simulates and ingests first

Ours: 3 h grid, 24 h label, the project's default classifier and alarm rule, on the window the
`training_set` asset takes by default (it ends at the newest day with final labels). The reference
(DESIGN §7): 12 h grid, 84 h (3.5 day) label, RandomForest with 200 trees of depth 15, no class
weighting, arg-max alarms, on the same window (its last 3 days have no final 84 h labels). Both go
through the asset's own code (`pipeline.lifecycle.train_and_judge`), from the same raw tables.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Optional

from pdm_assets.pipeline.decision import DecisionRule
from pdm_assets.pipeline.evaluation import failure_events, judge
from pdm_assets.pipeline.events import episode_gap_hours
from pdm_assets.pipeline.features import FeatureParams, build_features, feature_columns, maintenance_with_history
from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams, build_labels, mark_final
from pdm_assets.pipeline.lifecycle import train_and_judge
from pdm_assets.pipeline.model import GateFloors, ModelConfig
from pdm_assets.pipeline.training import (
    HOLDOUT, TrainingParams, TrainingWindow, build_training_set, describe_spans, final_days, rolling_window,
)

GOAL_PRECISION, GOAL_RECALL = 0.90, 0.95
COMMON_HORIZON = 24  # hours: what counts as warned (and as a true alarm) when contenders are compared


@dataclass(frozen=True)
class Contender:
    name: str
    features: FeatureParams
    labels: LabelParams
    model: ModelConfig = field(default_factory=ModelConfig)
    tuning_share: float = TrainingParams.tuning_share  # 0: no thresholds, the arg-max class


OURS = Contender("ours", FeatureParams(3, 3, 24), LabelParams(3, 24))
REFERENCE = Contender(
    "reference", FeatureParams(12, 12, 24), LabelParams(12, 84),
    ModelConfig("random_forest", {"numTrees": 200, "maxDepth": 15, "featureSubsetStrategy": "auto",
                                  "minInstancesPerNode": 1}, class_weighting="none"), tuning_share=0.0,
)


def _prepared(spark, store, contender: Contender, days: list[date]):
    """The contender's training rows, labels marked final as the labels asset marks them."""
    telemetry, errors = store.read(spark, "raw_telemetry"), store.read(spark, "raw_errors")
    machines = store.read(spark, "raw_machines")
    maint, history_start = maintenance_with_history(
        store.read(spark, "raw_maint"), store.read(spark, "raw_maint_history"), datetime.combine(days[0], datetime.min.time()))
    start, end = days[0], days[-1] + timedelta(days=1)
    feats = build_features(telemetry, errors, maint, machines, start, end, contender.features,
                           history_start=history_start).persist()
    labels = mark_final(build_labels(store.read(spark, "raw_failures"), machines, start, end, contender.labels),
                        store.existing_days("raw_failures"), days, contender.labels.horizon_hours).persist()
    return feats, labels


def _run(spark, store, contender: Contender, days: list[date], window: Optional[TrainingWindow],
         target: float) -> dict:
    began = time.perf_counter()
    feats, labels = _prepared(spark, store, contender, days)
    own = rolling_window(final_days(labels), tuning_share=contender.tuning_share)
    window = window or own
    if contender.tuning_share == 0 and window.tuning_start is not None:
        window = TrainingWindow(window.train_start, window.holdout_start, window.holdout_end)
    rows = build_training_set(feats, labels, window, contender.labels.horizon_hours).persist()
    prepare_s = time.perf_counter() - began
    failures = store.read(spark, "raw_failures")
    outcome = train_and_judge(rows, failures, contender.model, feature_columns(contender.features),
                              contender.labels.horizon_hours, contender.features.cadence_hours, target,
                              GateFloors(), None)
    holdout = rows.where(rows.split == HOLDOUT)
    start, end = outcome.holdout.start, outcome.holdout.end
    gap = episode_gap_hours(contender.features.cadence_hours)
    argmax = None
    if outcome.rule.thresholds:  # the same model with arg-max alarms, for the rule's effect
        argmax = judge(outcome.model, DecisionRule(), holdout,
                       failure_events(failures, start, end, contender.labels.horizon_hours), start, end,
                       contender.labels.horizon_hours, gap)
    # every contender judged on the planner's 24 h as well: its own horizon may be longer and more lenient
    common = judge(outcome.model, outcome.rule, holdout, failure_events(failures, start, end, COMMON_HORIZON),
                   start, end, COMMON_HORIZON, gap)
    for frame in (feats, labels, rows):
        frame.unpersist()
    return {"window": window, "outcome": outcome, "argmax": argmax, "common": common, "prepare_s": prepare_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=None, help="PDM_HOME holding raw tables (default: build them)")
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--only", choices=("ours", "reference"), default=None)
    p.add_argument("--params", default="", help="JSON overrides of our classifier's hyperparameters")
    p.add_argument("--classifier", default="random_forest")
    p.add_argument("--weighting", default=ModelConfig().class_weighting)
    p.add_argument("--tuning-share", type=float, default=TrainingParams.tuning_share)
    p.add_argument("--target", type=float, default=TrainingParams.target_alarm_precision,
                   help="target alarm precision of the thresholds (PDM_TARGET_ALARM_PRECISION)")
    args = p.parse_args()
    if args.home is None:
        from pdm_assets.tools.benchmarks.features_backfill import run_backfill

        args.home, _ = run_backfill(None, args.machines, 365, 42)
    os.environ["PDM_HOME"] = str(args.home)
    from pdm_assets.storage.spark_session import create_spark_session
    from pdm_assets.storage.delta_store import DeltaTableStore

    spark = create_spark_session(os.environ.get("PDM_SPARK_MASTER", "local[*]"), shuffle_partitions=8)
    store = DeltaTableStore.local(args.home / "warehouse")
    days = store.existing_days("raw_telemetry")
    ours = Contender("ours", OURS.features, OURS.labels,
                     ModelConfig(args.classifier, json.loads(args.params or "{}"), args.weighting), args.tuning_share)
    results = {}
    if args.only in (None, "ours"):
        results["ours"] = _run(spark, store, ours, days, None, args.target)
    if args.only in (None, "reference"):
        results["reference"] = _run(spark, store, REFERENCE, days, results["ours"]["window"] if results else None,
                                    args.target)
    _print({"ours": ours, "reference": REFERENCE}, results)


def _shown(value: Optional[float], pattern: str = "{:.3f}") -> str:
    return pattern.format(value) if value is not None else "n/a"


def _print(contenders: dict[str, Contender], results: dict) -> None:
    width = 16
    print("\n== holdout quality and training time (same raw data, same window) ==")
    print(f"{'':30}" + "".join(f"{n:>{width}}" for n in results))
    rows = [
        ("grid / label horizon", lambda c, r: f"{c.features.cadence_hours}h / {c.labels.horizon_hours}h"),
        ("classifier", lambda c, r: c.model.classifier),
        ("class weighting", lambda c, r: c.model.class_weighting),
        ("train rows", lambda c, r: f"{sum(r['outcome'].counts['train'].values()):,}"),
        ("holdout rows", lambda c, r: f"{r['outcome'].holdout.rows.rows:,}"),
        ("features+labels s", lambda c, r: f"{r['prepare_s']:.1f}"),
        ("training s", lambda c, r: f"{r['outcome'].train_seconds:.1f}"),
        ("row accuracy", lambda c, r: f"{r['outcome'].holdout.rows.accuracy:.3f}"),
        ("row macro F1", lambda c, r: f"{r['outcome'].holdout.rows.macro_f1:.3f}"),
        ("event recall, own horizon", lambda c, r: _shown(r["outcome"].holdout.events.event_recall)),
        ("median lead h", lambda c, r: _shown(r["outcome"].holdout.events.lead_median_h, "{:.0f}")),
        ("p10 lead h", lambda c, r: _shown(r["outcome"].holdout.events.lead_p10_h, "{:.0f}")),
        ("alarm precision, own horizon", lambda c, r: _shown(r["outcome"].holdout.events.alarm_precision)),
        ("false alarms / machine-month", lambda c, r: f"{r['outcome'].holdout.events.false_episodes_per_machine_month:.3f}"),
        (f"event recall, {COMMON_HORIZON} h", lambda c, r: _shown(r["common"].events.event_recall)),
        (f"median lead h, {COMMON_HORIZON} h", lambda c, r: _shown(r["common"].events.lead_median_h, "{:.0f}")),
        (f"alarm precision, {COMMON_HORIZON} h", lambda c, r: _shown(r["common"].events.alarm_precision)),
        (f"false alarms/m-month, {COMMON_HORIZON} h",
         lambda c, r: f"{r['common'].events.false_episodes_per_machine_month:.3f}"),
        ("arg-max: event recall", lambda c, r: _shown(r["argmax"].events.event_recall) if r["argmax"] else "-"),
        ("arg-max: alarm precision", lambda c, r: _shown(r["argmax"].events.alarm_precision) if r["argmax"] else "-"),
    ]
    for cls in LABEL_CLASSES:
        rows.append((f"row recall {cls}", lambda c, r, cls=cls: _shown(r["outcome"].holdout.rows.recall[cls])))
    for label, cell in rows:
        print(f"{label:30}" + "".join(f"{cell(contenders[n], r):>{width}}" for n, r in results.items()))
    for name, r in results.items():
        outcome = r["outcome"]
        print(f"{name}: {describe_spans(outcome.spans)}; rule {outcome.rule.describe()}; "
              f"params {contenders[name].model.hyperparameters()}")
        print(f"  {outcome.holdout.events.summary()}")
    if "ours" in results:
        events = results["ours"]["outcome"].holdout.events
        met = (events.alarm_precision or 0) >= GOAL_PRECISION and (events.event_recall or 0) >= GOAL_RECALL
        print(f"goal alarm precision >= {GOAL_PRECISION} with event recall >= {GOAL_RECALL}: "
              f"{'met' if met else 'not met'} (precision {_shown(events.alarm_precision)}, "
              f"recall {_shown(events.event_recall)}); the trade-off curve is logged as alarm_tradeoff.png "
              "by the failure_model asset")


if __name__ == "__main__":
    main()
