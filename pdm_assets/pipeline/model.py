"""The failure classifier as one MLlib Pipeline: build, fit (on training rows only), evaluate.

Every transformer that learns anything (the model-category indexer, the median imputer, the
classifier) is fitted inside `fit_model`; the fitted `PipelineModel` is all scoring needs. Labels
are indexed with a fixed mapping (`LABEL_CLASSES` order), so probability vector position i is
always class `LABEL_CLASSES[i]`, whatever classes a training window happened to favour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.param import Param
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    GBTClassifier,
    LogisticRegression,
    OneVsRest,
    RandomForestClassifier,
)
from pyspark.ml.feature import Imputer, IndexToString, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.features import CATEGORICAL_FEATURES
from pdm_assets.pipeline.labels import LABEL_CLASSES

LABEL_INDEX, WEIGHT, FEATURES = "label_index", "class_weight", "features"
PREDICTED_INDEX, PREDICTED = "prediction", "predicted_failure"

# Defaults chosen on simulated 100-machine years (training times in docs/benchmarks.md): deep enough
# to use the per-component precursor signals, small enough to train quickly on a small host.
CLASSIFIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "random_forest": {"numTrees": 60, "maxDepth": 10, "featureSubsetStrategy": "sqrt", "minInstancesPerNode": 2},
    "decision_tree": {"maxDepth": 10, "minInstancesPerNode": 5},
    "gbt_one_vs_rest": {"maxIter": 30, "maxDepth": 5, "stepSize": 0.2},
    "logistic_regression": {"maxIter": 100, "regParam": 0.001, "elasticNetParam": 0.0},
}
CLASSIFIERS = tuple(CLASSIFIER_DEFAULTS)
_ESTIMATORS = {
    "random_forest": RandomForestClassifier,
    "decision_tree": DecisionTreeClassifier,
    "gbt_one_vs_rest": GBTClassifier,  # wrapped in OneVsRest
    "logistic_regression": LogisticRegression,
}
CLASS_WEIGHTINGS = ("balanced", "sqrt_balanced", "none")


class ModelConfigError(ValueError):
    """A model configuration names an unknown classifier, parameter or weighting."""


@dataclass(frozen=True)
class ModelConfig:
    """Which classifier, its MLlib hyperparameters (by MLlib name), class weighting and seed."""

    classifier: str = "random_forest"
    params: Mapping[str, Any] = field(default_factory=dict)
    class_weighting: str = "sqrt_balanced"
    seed: int = 42

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIER_DEFAULTS:
            raise ModelConfigError(f"Unknown classifier '{self.classifier}'; choose one of {', '.join(CLASSIFIERS)}")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ModelConfigError(
                f"Unknown class_weighting '{self.class_weighting}'; choose one of {', '.join(CLASS_WEIGHTINGS)}")
        estimator = _ESTIMATORS[self.classifier]
        # Params are class attributes: checked without a SparkContext (the config is built before one).
        unknown = sorted(k for k in self.params if not isinstance(getattr(estimator, k, None), Param))
        if unknown:
            raise ModelConfigError(
                f"{self.classifier} has no parameter(s) {', '.join(unknown)}; "
                f"see pyspark.ml.classification.{estimator.__name__}"
            )

    def hyperparameters(self) -> dict[str, Any]:
        """The defaults overridden by the configured parameters."""
        return {**CLASSIFIER_DEFAULTS[self.classifier], **self.params}


class TrainingDataError(ValueError):
    """The training rows cannot train a model of every class."""


def _classifier(config: ModelConfig):
    common = {"featuresCol": FEATURES, "labelCol": LABEL_INDEX}
    params = config.hyperparameters()
    if config.classifier == "gbt_one_vs_rest":
        # MLlib's GBT is binary: one per class; OneVsRest passes the class weights on to each.
        base = GBTClassifier(**params, seed=config.seed)
        return OneVsRest(classifier=base, weightCol=WEIGHT, **common)
    estimator = _ESTIMATORS[config.classifier]()
    if estimator.hasParam("seed"):
        params = {"seed": config.seed, **params}
    return estimator.setParams(**common, weightCol=WEIGHT, **params)


def label_index(label: Column) -> Column:
    """The fixed class index of a label (its position in LABEL_CLASSES)."""
    index = F.lit(None).cast("double")
    for i, name in reversed(list(enumerate(LABEL_CLASSES))):
        index = F.when(label == name, F.lit(float(i))).otherwise(index)
    return index


def build_pipeline(config: ModelConfig, feature_cols: Sequence[str]) -> Pipeline:
    """Indexer (+ one-hot for linear models), imputer, assembler, classifier, index-to-label."""
    categorical = [c for c in feature_cols if c in CATEGORICAL_FEATURES]
    numeric = [c for c in feature_cols if c not in CATEGORICAL_FEATURES]
    stages: list = []
    encoded = []
    for col in categorical:
        # "keep": a category unseen in training (a new machine model) gets its own bucket, not an error.
        stages.append(StringIndexer(inputCol=col, outputCol=f"{col}_index", handleInvalid="keep"))
        encoded.append(f"{col}_index")
    if config.classifier == "logistic_regression" and encoded:
        stages.append(OneHotEncoder(inputCols=encoded, outputCols=[f"{c}_onehot" for c in encoded]))
        encoded = [f"{c}_onehot" for c in encoded]
    imputed = [f"{c}_imputed" for c in numeric]
    # A mean or std is null when a machine sent too few readings in a window; the training
    # median stands in for it (MLlib trees cannot split on nulls).
    stages.append(Imputer(inputCols=list(numeric), outputCols=imputed, strategy="median"))
    stages.append(VectorAssembler(inputCols=[*imputed, *encoded], outputCol=FEATURES))
    stages.append(_classifier(config))
    stages.append(IndexToString(inputCol=PREDICTED_INDEX, outputCol=PREDICTED, labels=list(LABEL_CLASSES)))
    return Pipeline(stages=stages)


def class_weights(counts: Mapping[str, int], weighting: str) -> dict[str, float]:
    """Per-class row weights; 'balanced' gives every class the same total weight."""
    total, k = sum(counts.values()), len(counts)
    if weighting == "none":
        return {c: 1.0 for c in counts}
    weights = {c: total / (k * n) for c, n in counts.items()}
    if weighting == "sqrt_balanced":  # halfway (in log terms): recall up without flooding precision
        weights = {c: w ** 0.5 for c, w in weights.items()}
    return weights


def require_every_class(counts: Mapping[str, int], where: str) -> None:
    """Fail clearly when a class has no rows: the model could never predict it."""
    missing = [c for c in LABEL_CLASSES if counts.get(c, 0) == 0]
    if missing:
        shown = ", ".join(f"{c}={counts.get(c, 0)}" for c in LABEL_CLASSES)
        raise TrainingDataError(
            f"The {where} has no rows of class(es) {', '.join(missing)} ({shown}); widen the training "
            "window or check the failure feed."
        )


def fit_model(train: DataFrame, config: ModelConfig, feature_cols: Sequence[str], counts: Mapping[str, int]) -> PipelineModel:
    """Fit the whole pipeline on training rows (label + features); weights from the class counts."""
    require_every_class(counts, "training window")
    weights = class_weights({c: counts[c] for c in LABEL_CLASSES}, config.class_weighting)
    weight = F.lit(None).cast("double")
    for name, w in weights.items():
        weight = F.when(F.col("label") == name, F.lit(w)).otherwise(weight)
    rows = train.withColumn(LABEL_INDEX, label_index(F.col("label"))).withColumn(WEIGHT, weight)
    return build_pipeline(config, feature_cols).fit(rows)


@dataclass(frozen=True)
class Evaluation:
    """Row-level holdout metrics: per class precision/recall/F1, macro F1, accuracy, confusion matrix.

    A class with no row in the holdout has no recall or F1 (None): it is reported in `absent`, and
    macro F1 averages the classes present, instead of counting the absent one as a 0 it never earned.
    """

    precision: dict[str, float]
    recall: dict[str, Optional[float]]
    f1: dict[str, Optional[float]]
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]  # rows: actual class, columns: predicted class, LABEL_CLASSES order
    rows: int
    absent: tuple[str, ...] = ()

    def metrics(self) -> dict[str, float]:
        """Flat metric names for tracking (precision_comp1, ..., macro_f1, accuracy); undefined ones left out."""
        flat = {"macro_f1": self.macro_f1, "accuracy": self.accuracy}
        for kind, values in (("precision", self.precision), ("recall", self.recall), ("f1", self.f1)):
            flat.update({f"{kind}_{c}": v for c, v in values.items() if v is not None})
        return flat

    def confusion_markdown(self) -> str:
        header = "| actual \\ predicted | " + " | ".join(LABEL_CLASSES) + " |"
        rule = "|---" * (len(LABEL_CLASSES) + 1) + "|"
        body = [f"| **{c}** | " + " | ".join(str(n) for n in row) + " |" for c, row in zip(LABEL_CLASSES, self.confusion)]
        return "\n".join([header, rule, *body])


def evaluation_from_counts(cells: Mapping[tuple[str, str], int]) -> Evaluation:
    """Metrics from (actual, predicted) → count; a class never predicted has precision 0."""
    confusion = [[cells.get((a, p), 0) for p in LABEL_CLASSES] for a in LABEL_CLASSES]
    total = sum(map(sum, confusion))
    precision, recall, f1 = {}, {}, {}
    for i, c in enumerate(LABEL_CLASSES):
        hit = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        actual = sum(confusion[i])
        precision[c] = hit / predicted if predicted else 0.0
        if not actual:
            recall[c] = f1[c] = None
            continue
        recall[c] = hit / actual
        both = precision[c] + recall[c]
        f1[c] = 2 * precision[c] * recall[c] / both if both else 0.0
    present = [v for v in f1.values() if v is not None]
    accuracy = sum(confusion[i][i] for i in range(len(LABEL_CLASSES))) / total if total else 0.0
    absent = tuple(c for c in LABEL_CLASSES if f1[c] is None)
    return Evaluation(precision, recall, f1, sum(present) / len(present) if present else 0.0, accuracy, confusion,
                      total, absent)


def feature_importances(model: PipelineModel) -> dict[str, float]:
    """Importance per input column: tree importances, or mean |coefficient| for a linear model."""
    assembler = next(s for s in model.stages if isinstance(s, VectorAssembler))
    names = [c.removesuffix("_imputed").removesuffix("_onehot").removesuffix("_index") for c in assembler.getInputCols()]
    fitted = model.stages[-2]
    if hasattr(fitted, "featureImportances"):
        values = list(fitted.featureImportances.toArray())
    elif hasattr(fitted, "models"):  # OneVsRest: average of the per-class models
        per_model = [m.featureImportances.toArray() for m in fitted.models]
        values = [sum(v[i] for v in per_model) / len(per_model) for i in range(len(per_model[0]))]
    else:
        matrix = fitted.coefficientMatrix.toArray()
        values = list(abs(matrix).mean(axis=0))
    # A one-hot column spans several vector slots: sum them under its input name.
    result: dict[str, float] = {}
    slots = _slots_per_input(model, assembler, len(values))
    position = 0
    for name, width in zip(names, slots):
        result[name] = result.get(name, 0.0) + float(sum(values[position:position + width]))
        position += width
    return dict(sorted(result.items(), key=lambda kv: -kv[1]))


def _slots_per_input(model: PipelineModel, assembler: VectorAssembler, size: int) -> list[int]:
    inputs = assembler.getInputCols()
    widths = [1] * len(inputs)
    wide = [i for i, c in enumerate(inputs) if c.endswith("_onehot")]
    if wide:  # the vector's size tells how many slots the one-hot columns take together
        extra = size - (len(inputs) - len(wide))
        for i in wide:
            widths[i] = extra // len(wide)
    return widths


@dataclass(frozen=True)
class GateFloors:
    """What a candidate must reach on the holdout to become the champion."""

    macro_f1: float = 0.85
    event_recall: float = 0.80
    alarm_precision: float = 0.60
    champion_tolerance: float = 0.01  # and no worse than the champion's macro F1 on the same rows minus this


def gate_decision(candidate: Mapping[str, Optional[float]], floors: GateFloors,
                  champion: Optional[Mapping[str, Optional[float]]] = None) -> tuple[bool, list[str]]:
    """(passed, reasons): the floors the candidate misses and how it compares with the champion, or what it met.

    `candidate` holds macro_f1, event_recall and alarm_precision on the holdout (None: not measurable,
    e.g. no failure in the holdout; no floor can judge that, so it is said and not held against it).
    `champion` holds both models' macro_f1 on the same rows: `{"candidate": f1, "champion": f1}`.
    """
    failed, met = [], []
    for name, floor in (("macro_f1", floors.macro_f1), ("event_recall", floors.event_recall),
                        ("alarm_precision", floors.alarm_precision)):
        value = candidate.get(name)
        if value is None:
            met.append(f"{name} not measurable on this holdout")
        elif value < floor:
            failed.append(f"{name} {value:.4f} is below the floor {floor:.4f}")
        else:
            met.append(f"{name} {value:.4f} >= floor {floor:.4f}")
    if champion is not None:
        mine, theirs = champion["candidate"], champion["champion"]
        if mine < theirs - floors.champion_tolerance:
            failed.append(f"macro F1 {mine:.4f} is worse than the champion's {theirs:.4f} on the same holdout "
                          f"rows (tolerance {floors.champion_tolerance:.4f})")
        else:
            met.append(f"macro F1 {mine:.4f} vs the champion's {theirs:.4f} on the same rows")
    return not failed, failed or met
