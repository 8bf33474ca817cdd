"""Record one training as an MLflow run: parameters, metrics, confusion matrix, importances, the model."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.model import PREDICTED, Evaluation


@dataclass(frozen=True)
class LoggedModel:
    """Where a training went: the MLflow run and the registered version."""

    experiment_id: str
    run_id: str
    version: str
    model_uri: str


def confusion_figure(evaluation: Evaluation):
    """The confusion matrix as a matplotlib figure (no pyplot: no global state, no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5), dpi=100)
    ax = fig.add_subplot()
    matrix = evaluation.confusion
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABEL_CLASSES)), LABEL_CLASSES)
    ax.set_yticks(range(len(LABEL_CLASSES)), LABEL_CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Holdout confusion matrix (macro F1 {evaluation.macro_f1:.3f})")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > peak / 2 else "black")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def _requirements() -> list[str]:
    """What the logged model needs to load elsewhere: the Spark and MLflow of this environment."""
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in ("pyspark", "mlflow")]


def log_training(
    model: PipelineModel,
    model_name: str,
    experiment_id: str,
    params: Mapping[str, Any],
    evaluation: Evaluation,
    importances: Mapping[str, float],
    example_input: DataFrame,
    tags: Mapping[str, str],
    texts: Mapping[str, str] = {},
    metrics: Mapping[str, float] = {},
    figures: Mapping[str, Any] = {},
) -> LoggedModel:
    """One MLflow run with everything a reviewer needs, and a new registered model version."""
    import mlflow
    import mlflow.spark
    from mlflow.models import infer_signature

    sample = example_input.limit(5)
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot carry missing values: machine_id and age never miss.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column", category=UserWarning)
        signature = infer_signature(sample.toPandas(), model.transform(sample).select(PREDICTED).toPandas())
    with mlflow.start_run(experiment_id=experiment_id, tags=dict(tags)) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(evaluation.metrics())
        mlflow.log_metric("holdout_rows", evaluation.rows)
        mlflow.log_metrics(dict(metrics))
        confusion = pd.DataFrame(evaluation.confusion, columns=list(LABEL_CLASSES))
        confusion.insert(0, "actual", list(LABEL_CLASSES))
        mlflow.log_table(confusion, "confusion_matrix.json")
        mlflow.log_figure(confusion_figure(evaluation), "confusion_matrix.png")
        mlflow.log_table(pd.DataFrame({"feature": list(importances), "importance": list(importances.values())}),
                         "feature_importances.json")
        for name, text in texts.items():
            mlflow.log_text(text, name)
        for name, figure in figures.items():
            mlflow.log_figure(figure, name)
        # Requirements named here: inferring them loads the saved model in a subprocess with a JVM of
        # its own (tens of seconds per training).
        info = mlflow.spark.log_model(model, artifact_path="model", signature=signature,
                                      registered_model_name=model_name, pip_requirements=_requirements())
    version = str(info.registered_model_version)
    return LoggedModel(experiment_id, run.info.run_id, version, f"models:/{model_name}/{version}")
