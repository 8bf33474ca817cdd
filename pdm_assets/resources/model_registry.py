"""MLflow as a Dagster resource: where runs are tracked, where the model is registered, the champion alias.

Local default: a SQLite tracking and registry database and an artifact folder under
`<PDM_HOME>/mlflow`. On Databricks the same resource points at `databricks` / `databricks-uc`.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from dagster import ConfigurableResource
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel

    from pdm_assets.pipeline.decision import DecisionRule
    from pdm_assets.pipeline.lifecycle import Champion

CHAMPION = "champion"
# Artifacts each training run logs beside the model, read back when it scores or is compared.
DRIFT_REFERENCE_FILE = "drift_reference.json"
DECISION_RULE_FILE = "decision_rule.json"


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
    if not _is_connect(session):
        return mlflow.spark.load_model(model_uri)
    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    return load_pipeline_model(str(local / "sparkml"), session)


def load_pipeline_model(path: str, session) -> "PipelineModel":
    """`PipelineModel.load` of a model folder on this machine, with the stages read concurrently.

    Each stage is its own folder: a metadata read and a few small Spark jobs on the server (over
    Spark Connect, 0.1-1.3 s a stage here). One after the other they cost the sum, side by side
    about the slowest one. The metadata files that say which class each stage is (JSON lines)
    are read here with Python: through Spark (what `DefaultParamsReader.loadParamsInstance`
    does) each is a Spark job, six of the thirteen jobs a load cost, run while a new day is
    being ingested on the same two cores.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.ml import PipelineModel
    from pyspark.ml.pipeline import PipelineSharedReadWrite

    metadata = _saved_metadata(path)
    uids = metadata["paramMap"]["stageUids"]
    folders = [PipelineSharedReadWrite.getStagePath(uid, i, len(uids), os.path.join(path, "stages"))
               for i, uid in enumerate(uids)]

    def load_stage(folder: str):
        if _is_connect(session):
            # Connect ML wrappers look up the thread's active session (a thread-local): make it ours.
            type(session)._set_default_and_active_session(session)
        return _stage_class(_saved_metadata(folder)).load(folder)

    with ThreadPoolExecutor(max_workers=max(1, len(folders)), thread_name_prefix="model-stage") as pool:
        stages = list(pool.map(load_stage, folders))
    return PipelineModel(stages=stages)._resetUid(metadata["uid"])


def _saved_metadata(folder: str) -> dict:
    """The metadata JSON an MLlib writer saved in `<folder>/metadata` (a one-line text file)."""
    import json

    parts = sorted(Path(folder, "metadata").glob("part-*"))
    if not parts:
        raise FileNotFoundError(f"No saved MLlib metadata in {Path(folder, 'metadata')}")
    return json.loads(parts[0].read_text(encoding="utf-8").splitlines()[0])


def _stage_class(metadata: dict) -> type:
    """The pyspark class that loads a saved stage, named as `DefaultParamsReader.loadParamsInstance` names it."""
    import importlib

    from pyspark.ml.util import DefaultParamsReader

    name = metadata["class"]
    if not DefaultParamsReader.isPythonParamsInstance(metadata):
        name = name.replace("org.apache.spark", "pyspark")
    module, _, cls = name.rpartition(".")
    return getattr(importlib.import_module(module), cls)


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


def _is_connect(session) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


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
            model = load_spark_model(f"models:/{self.model_name}/{version}", session)
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
