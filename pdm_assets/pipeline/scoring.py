"""Score feature rows with a fitted PipelineModel: the predicted class, one probability per class, lineage.

Scoring only calls `transform`: nothing is fitted here. Models without a probability column
(OneVsRest over GBTs gives per-class margins) get a softmax over those margins, so every row
still carries probabilities in [0, 1] that sum to 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.decision import DecisionRule, decide
from pdm_assets.pipeline.grid import ts_text
from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.model import PREDICTED
from pdm_assets.pipeline.schemas import COMPONENTS, PARTITION_COLUMN

PROBABILITY_COLUMNS = tuple(f"probability_{c}" for c in LABEL_CLASSES)
ARGMAX_COLUMN, RULE_COLUMN = "argmax_failure", "decision_rule"
LINEAGE_COLUMNS = ("model_name", "model_version", "model_run_id", "scored_at")


@dataclass(frozen=True)
class ModelLineage:
    """Which registered model version scored the rows, and from which MLflow run it came."""

    name: str
    version: str
    run_id: str


def _probabilities(scored: DataFrame) -> list[Column]:
    if "probability" in scored.columns:
        values = vector_to_array("probability")
    else:  # softmax over the margins; shifted by the max so exp() cannot overflow
        raw = vector_to_array("rawPrediction")
        top = F.array_max(raw)
        exps = F.transform(raw, lambda x: F.exp(x - top))
        total = F.aggregate(exps, F.lit(0.0), lambda acc, x: acc + x)
        values = F.transform(exps, lambda x: x / total)
    return [values[i].alias(name) for i, name in enumerate(PROBABILITY_COLUMNS)]


def predict(model: PipelineModel, rows: DataFrame, rule: DecisionRule, keep: tuple[str, ...] = ()) -> DataFrame:
    """machine_id, timestamp, date, *keep, predicted_failure (under `rule`), argmax_failure, decision_rule,
    probability_<class>...: the model's output as scoring and evaluation both read it."""
    scored = model.transform(rows)
    probabilities = _probabilities(scored)
    with_probabilities = scored.select("machine_id", "timestamp", PARTITION_COLUMN, *keep,
                                       F.col(PREDICTED).alias(ARGMAX_COLUMN), *probabilities)
    by_class = {c: F.col(f"probability_{c}") for c in COMPONENTS}
    return with_probabilities.select(
        "machine_id", "timestamp", PARTITION_COLUMN, *keep,
        decide(rule, by_class, F.col(ARGMAX_COLUMN)).alias("predicted_failure"), ARGMAX_COLUMN,
        F.lit(rule.describe()).alias(RULE_COLUMN), *PROBABILITY_COLUMNS)


def score(model: PipelineModel, features: DataFrame, lineage: ModelLineage, scored_at: datetime,
          rule: DecisionRule = DecisionRule()) -> DataFrame:
    """machine_id, timestamp, date, predicted_failure (the model's rule), argmax_failure, decision_rule,
    probability_<class>..., model_name/version/run_id, scored_at."""
    predicted = predict(model, features, rule)
    # Session zone (UTC). A cast, not ts_literal: under ANSI, to_timestamp of a literal is non-nullable.
    stamp = F.lit(ts_text(scored_at)).cast("timestamp")
    return predicted.select(
        "machine_id", "timestamp", PARTITION_COLUMN, "predicted_failure", ARGMAX_COLUMN, RULE_COLUMN,
        *PROBABILITY_COLUMNS,
        F.lit(lineage.name).alias("model_name"),
        F.lit(lineage.version).alias("model_version"),
        F.lit(lineage.run_id).alias("model_run_id"),
        stamp.alias("scored_at"),
    )


def _probability_flags(tolerance: float) -> tuple[Column, Column]:
    cols = [F.col(c) for c in PROBABILITY_COLUMNS]
    out_of_range = F.exists(F.array(*cols), lambda p: p.isNull() | (p < 0) | (p > 1))
    return out_of_range, F.abs(sum(cols[1:], cols[0]) - 1.0) > tolerance


def scored_summary(predictions: DataFrame, tolerance: float = 1e-6) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """({day: {predicted class: rows}}, {"outside_0_1": n, "not_summing_to_1": n}) from one aggregation.

    The class mix per day (metadata) and the probability check's figures in one job: rows with a
    probability outside [0, 1] or null, and rows whose probabilities do not sum to 1.
    """
    out_of_range, bad_sum = _probability_flags(tolerance)
    mix: dict[str, dict[str, int]] = {}
    problems = {"outside_0_1": 0, "not_summing_to_1": 0}
    for r in predictions.groupBy(PARTITION_COLUMN, "predicted_failure").agg(
            F.count("*").alias("rows"), F.count_if(out_of_range).alias("outside_0_1"),
            F.count_if(bad_sum).alias("not_summing_to_1")).collect():
        mix.setdefault(str(r[PARTITION_COLUMN]), {})[r["predicted_failure"]] = int(r["rows"])
        for name in problems:
            problems[name] += int(r[name] or 0)
    return mix, problems
