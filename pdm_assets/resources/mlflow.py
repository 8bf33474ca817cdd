"""MLflow as a Dagster resource: where runs are tracked, where the model is registered, the champion alias,
and how one training is recorded (parameters, metrics, confusion matrix, importances, the model).

Local default: a SQLite tracking and registry database and an artifact folder under
`<PDM_HOME>/mlflow`. On Databricks the same resource points at `databricks` / `databricks-uc`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import pandas as pd

from dagster import ConfigurableResource
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame

from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.model import PREDICTED, Evaluation
from pdm_assets.pipeline.model_io import is_connect, load_pipeline_model

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel

    from pdm_assets.pipeline.decision import DecisionRule
    from pdm_assets.pipeline.drift import DriftReference
    from pdm_assets.pipeline.lifecycle import Champion

CHAMPION = "champion"
# Artifacts each training run logs beside the model, read back when it scores or is compared.
DRIFT_REFERENCE_FILE = "drift_reference.json"
DECISION_RULE_FILE = "decision_rule.json"


def model_uri(name: str, version: str) -> str:
    """The MLflow URI of a registered model version."""
    return f"models:/{name}/{version}"


def load_spark_model(model_uri: str, session):
    """The PipelineModel behind an MLflow model URI, for the session in use.

    `mlflow.spark.load_model` goes through the py4j gateway of an embedded JVM, which a Spark
    Connect client does not have; there the artifacts are downloaded and loaded by path (the
    server reads the same disk: a local Connect server or one sharing PDM_HOME).
    """
    import mlflow
    import mlflow.spark

    stored = _local_model_folder(model_uri)
    if stored is not None:  # a local artifact store: load in place, no copy (the model is read-only)
        return load_pipeline_model(str(stored / "sparkml"), session)
    if not is_connect(session):
        return mlflow.spark.load_model(model_uri)
    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    return load_pipeline_model(str(local / "sparkml"), session)


def _local_model_folder(model_uri: str) -> Optional[Path]:
    """Where a `models:/<name>/<version>` model's files are, if that is a folder on this machine."""
    from urllib.parse import unquote, urlparse

    import mlflow

    if not model_uri.startswith("models:/"):
        return None
    name, _, version = model_uri.removeprefix("models:/").rpartition("/")
    location = urlparse(mlflow.MlflowClient().get_model_version_download_uri(name, version))
    if location.scheme not in ("", "file"):
        return None
    folder = Path(unquote(location.path))
    return folder if (folder / "sparkml").is_dir() else None


class ModelNotFoundError(LookupError):
    """The registered model, the version or the alias asked for does not exist."""


def local_mlflow_uris(home: Path) -> tuple[str, str]:
    """(tracking/registry URI, artifact root) of the local SQLite store under PDM_HOME."""
    folder = home / "mlflow"
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


class MlflowResource(ConfigurableResource):
    """MLflow tracking and registry, the experiment and the one registered model the project uses."""

    tracking_uri: str
    registry_uri: str = ""  # empty: the tracking URI
    artifact_root: str = ""  # for a new experiment; empty: the server's default
    experiment: str = "pdm_assets"
    model_name: str = "pdm_failure_model"
    ui_url: str = "http://127.0.0.1:5000"  # an MLflow UI over this store, for links shown in Dagster

    def activate(self) -> str:
        """Point the mlflow module at this store and return the experiment id (created if needed)."""
        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)
        found = mlflow.get_experiment_by_name(self.experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            experiment_id = mlflow.create_experiment(self.experiment, artifact_location=self.artifact_root or None)
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri or self.tracking_uri)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def champion(self) -> Optional[ModelVersion]:
        """The version the champion alias points at, or None (no model or no alias yet)."""
        try:
            return self.client().get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise

    def resolve(self, version: Optional[str] = None) -> ModelVersion:
        """A pinned version, or the champion; a clear error naming the registered model otherwise."""
        client = self.client()
        try:
            client.get_registered_model(self.model_name)
        except MlflowException as err:
            raise ModelNotFoundError(
                f"No registered model '{self.model_name}' in {self.registry_uri or self.tracking_uri}: "
                "materialize failure_model first."
            ) from err
        if version:
            try:
                return client.get_model_version(self.model_name, str(version))
            except MlflowException as err:
                raise ModelNotFoundError(f"Registered model '{self.model_name}' has no version {version}.") from err
        found = self.champion()
        if found is None:
            raise ModelNotFoundError(
                f"Registered model '{self.model_name}' has no '{CHAMPION}' alias: no version has passed the "
                "quality gate yet (see the failure_model quality_gate check), or pin a version."
            )
        return found


    def resolve_reference(self, reference: str) -> ModelVersion:
        """A version by number, or by alias (e.g. `challenger`); a clear error naming both otherwise."""
        if reference.isdigit():
            return self.resolve(reference)
        try:
            return self.client().get_model_version_by_alias(self.model_name, reference)
        except MlflowException as err:
            raise ModelNotFoundError(f"Registered model '{self.model_name}' has no version with the alias "
                                     f"'{reference}' (PDM_CHALLENGER): set the alias in MLflow, or name a version.") from err

    def holdout_reference(self, version: str, metric: str) -> tuple[Optional[float], Optional[date]]:
        """A holdout figure the MLflow run of a registered version logged, and the last day it learned from."""
        client = self.client()
        try:
            run_id = client.get_model_version(self.model_name, version).run_id
            return client.get_run(run_id).data.metrics.get(metric), trained_through(client, run_id)
        except MlflowException:
            return None, None

    def log_figure_to_version(self, version: str, figure, artifact_file: str) -> None:
        """Put a figure into the MLflow run of a registered version (replacing one of that name)."""
        client = self.client()
        client.log_figure(client.get_model_version(self.model_name, version).run_id, figure, artifact_file)

    def run_text(self, run_id: str, name: str) -> Optional[str]:
        """A text artifact of a run, or None when the run has none by that name (an older model)."""
        import mlflow

        try:
            return mlflow.artifacts.load_text(f"runs:/{run_id}/{name}")
        except Exception:  # mlflow raises several types for a missing artifact
            return None

    def drift_reference(self, run_id: str) -> Optional["DriftReference"]:
        """The training-window distributions logged with a model's run, if it has them (older models do not)."""
        from pdm_assets.pipeline.drift import DriftReference

        text = self.run_text(run_id, DRIFT_REFERENCE_FILE)
        return DriftReference.from_json(text) if text else None

    def decision_rule(self, run_id: str) -> "DecisionRule":
        """The alarm rule a model was trained with; the arg-max class for models logged before rules existed."""
        from pdm_assets.pipeline.decision import DecisionRule

        text = self.run_text(run_id, DECISION_RULE_FILE)
        return DecisionRule.from_json(text) if text else DecisionRule()

    def load_champion(self, session) -> Optional["Champion"]:
        """The champion as the quality gate compares with it: model, rule and the last day it learned from.

        A champion that cannot be loaded comes back with its error (the gate fails on it, never skips it).
        """
        from pdm_assets.pipeline.decision import DecisionRule
        from pdm_assets.pipeline.lifecycle import Champion

        found = self.champion()
        if found is None:
            return None
        version = str(found.version)
        try:
            model = load_spark_model(model_uri(self.model_name, version), session)
        except Exception as err:  # any load failure: reported by the gate with its text
            return Champion(version, None, DecisionRule(), None, f"{type(err).__name__}: {str(err)[:300]}")
        return Champion(version, model, self.decision_rule(found.run_id), trained_through(self.client(), found.run_id))

    def record_gate(self, version: str, passed: bool, macro_f1: float) -> Optional[str]:
        """Tag the version with the gate's verdict, move the champion alias to it if it passed; the champion now."""
        client = self.client()
        client.set_model_version_tag(self.model_name, version, "quality_gate", "passed" if passed else "failed")
        client.set_model_version_tag(self.model_name, version, "holdout_macro_f1", f"{macro_f1:.4f}")
        if passed:
            client.set_registered_model_alias(self.model_name, CHAMPION, version)
            return version
        current = self.champion()
        return str(current.version) if current is not None else None


def trained_through(client: MlflowClient, run_id: str) -> Optional[date]:
    """The last day whose labels a run's model learned from (its `trained_through` parameter, or the end
    of the training span of older runs' `training_window`); None when the run does not say."""
    import re

    params = client.get_run(run_id).data.params
    if params.get("trained_through"):
        return date.fromisoformat(params["trained_through"])
    spans = re.findall(r"(train|tune) \d{4}-\d{2}-\d{2}\.\.(\d{4}-\d{2}-\d{2})", params.get("training_window", ""))
    return max(date.fromisoformat(end) for _, end in spans) if spans else None


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
    model: "PipelineModel",
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
    return LoggedModel(experiment_id, run.info.run_id, version, model_uri(model_name, version))
