"""Train our configuration and the reference job's on the same simulated year; print both side by side.

    python -m pdm_assets.benchmarks.training --home /tmp/bench100   # a PDM_HOME with the raw tables
    python -m pdm_assets.benchmarks.training --machines 100          # simulates and ingests first

Ours: 3 h grid, 24 h label, the project's default classifier. The reference (DESIGN §7): 12 h grid,
84 h (3.5 day) label, RandomForest with 200 trees of depth 15 and no class weighting. Both train
on January–September and are judged on October–December, from the same raw tables.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pdm_assets.pipeline.features import FeatureParams, build_features, feature_columns, maintenance_with_history
from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams, build_labels
from pdm_assets.pipeline.model import ModelConfig, evaluate, fit_model
from pdm_assets.pipeline.training import HOLDOUT, TRAIN, build_training_set, class_counts, default_window


@dataclass(frozen=True)
class Contender:
    name: str
    features: FeatureParams
    labels: LabelParams
    model: ModelConfig = field(default_factory=ModelConfig)


OURS = Contender("ours", FeatureParams(3, 3, 24), LabelParams(3, 24))
REFERENCE = Contender(
    "reference", FeatureParams(12, 12, 24), LabelParams(12, 84),
    ModelConfig("random_forest", {"numTrees": 200, "maxDepth": 15, "featureSubsetStrategy": "auto",
                                  "minInstancesPerNode": 1}, class_weighting="none"),
)


def _train_and_judge(spark, store, contender: Contender, days: list[date]) -> dict:
    telemetry, errors = store.read(spark, "raw_telemetry"), store.read(spark, "raw_errors")
    machines = store.read(spark, "raw_machines")
    maint, history_start = maintenance_with_history(
        store.read(spark, "raw_maint"), store.read(spark, "raw_maint_history"), datetime.combine(days[0], datetime.min.time()))
    start, end = days[0], days[-1]
    began = time.perf_counter()
    feats = build_features(telemetry, errors, maint, machines, start, end, contender.features,
                           history_start=history_start).persist()
    labels = build_labels(store.read(spark, "raw_failures"), machines, start, end, contender.labels).persist()
    window = default_window(days)
    rows = build_training_set(feats, labels, window, contender.labels.horizon_hours).persist()
    counts = class_counts(rows)
    prepare_s = time.perf_counter() - began
    train = rows.where(rows.split == TRAIN)
    began = time.perf_counter()
    model = fit_model(train, contender.model, feature_columns(contender.features), counts[TRAIN])
    train_s = time.perf_counter() - began
    result = evaluate(model, rows.where(rows.split == HOLDOUT))
    for frame in (feats, labels, rows):
        frame.unpersist()
    return {"window": window.describe(), "prepare_s": prepare_s, "train_s": train_s,
            "train_rows": sum(counts[TRAIN].values()), "holdout_rows": result.rows, "eval": result,
            "train_failures": {c: counts[TRAIN][c] for c in LABEL_CLASSES[1:]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=None, help="PDM_HOME holding raw tables (default: build them)")
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--only", choices=("ours", "reference"), default=None)
    p.add_argument("--params", default="", help="JSON overrides of our classifier's hyperparameters")
    p.add_argument("--classifier", default="random_forest")
    p.add_argument("--weighting", default=ModelConfig().class_weighting)
    args = p.parse_args()
    if args.home is None:
        from pdm_assets.benchmarks.features_backfill import run_backfill

        args.home = run_backfill(None, args.machines, 365, 42)
    os.environ["PDM_HOME"] = str(args.home)
    from pdm_assets.resources.spark import create_spark_session
    from pdm_assets.storage.delta_store import DeltaTableStore

    spark = create_spark_session(os.environ.get("PDM_SPARK_MASTER", "local[*]"), shuffle_partitions=8)
    store = DeltaTableStore.local(args.home / "warehouse")
    days = store.existing_days("raw_telemetry")
    ours = Contender("ours", OURS.features, OURS.labels,
                     ModelConfig(args.classifier, json.loads(args.params or "{}"), args.weighting))
    contenders = [c for c in (ours, REFERENCE) if args.only in (None, c.name)]
    results = {c.name: _train_and_judge(spark, store, c, days) for c in contenders}
    _print(contenders, results)


def _print(contenders: list[Contender], results: dict) -> None:
    names = [c.name for c in contenders]
    width = 14
    print("\n== holdout quality and training time (same raw data) ==")
    print(f"{'':28}" + "".join(f"{n:>{width}}" for n in names))
    rows = [
        ("grid / label horizon", lambda c, r: f"{c.features.cadence_hours}h / {c.labels.horizon_hours}h"),
        ("classifier", lambda c, r: c.model.classifier),
        ("class weighting", lambda c, r: c.model.class_weighting),
        ("train rows", lambda c, r: f"{r['train_rows']:,}"),
        ("holdout rows", lambda c, r: f"{r['holdout_rows']:,}"),
        ("features+labels s", lambda c, r: f"{r['prepare_s']:.1f}"),
        ("training s", lambda c, r: f"{r['train_s']:.1f}"),
        ("accuracy", lambda c, r: f"{r['eval'].accuracy:.3f}"),
        ("macro F1", lambda c, r: f"{r['eval'].macro_f1:.3f}"),
    ]
    for cls in LABEL_CLASSES:
        rows.append((f"recall {cls}", lambda c, r, cls=cls: f"{r['eval'].recall[cls]:.3f}"))
        rows.append((f"precision {cls}", lambda c, r, cls=cls: f"{r['eval'].precision[cls]:.3f}"))
    for label, cell in rows:
        print(f"{label:28}" + "".join(f"{cell(c, results[c.name]):>{width}}" for c in contenders))
    for c in contenders:
        print(f"{c.name}: {results[c.name]['window']}; params {c.model.hyperparameters()}")
        print(results[c.name]["eval"].confusion_markdown())


if __name__ == "__main__":
    main()
