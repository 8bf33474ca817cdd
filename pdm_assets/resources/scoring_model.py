"""The model that scores a run, loaded once; with `preload`, in the background from the run's start.

Loading a PipelineModel is a string of small Spark jobs, most of a one-day scoring step's time
(figures in docs/benchmarks.md). A run that ingests a new day and then scores it spends its first steps on ingestion and
features, which do not need the model: started when the run's resources are set up, the load
overlaps them. What the step scores with is still decided by the step: it resolves the version
(champion or pinned) itself and takes the preloaded model only if it is that same version. When the
run ends, the models it loaded are released from a Spark Connect server's ML cache.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Optional

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from pdm_assets.pipeline.model_io import release_remote_model
from pdm_assets.pipeline.scoring import ModelLineage
from pdm_assets.resources.mlflow import MlflowResource, ModelNotFoundError, load_spark_model, model_uri
from pdm_assets.resources.spark import SparkSessionResource


# How long the end of a run waits for a background load still running (a stuck server must not hold the run).
PRELOAD_WAIT_SECONDS = 60


class ScoringModelResource(ConfigurableResource):
    """Loads the registered Spark model a scoring step asks for; can start loading the champion early."""

    mlflow: MlflowResource
    spark: SparkSessionResource
    # Only where steps run in this process: on Databricks the orchestrating host has no Spark.
    preload: bool = False

    _preloaded: Optional[tuple[ModelLineage, Future]] = PrivateAttr(default=None)
    _loaded: list = PrivateAttr(default_factory=list)  # (model, session) of this run

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._preloaded = None
        self._loaded = []
        if not self.preload:
            return
        try:
            self.mlflow.activate()
            version = self.mlflow.resolve(None)
        except ModelNotFoundError:  # nothing to preload; the scoring step reports the missing champion
            return
        lineage = ModelLineage(self.mlflow.model_name, str(version.version), version.run_id)
        future: Future = Future()

        def load() -> None:
            try:
                future.set_result(self._load(lineage, self.spark.session))
            except BaseException as err:  # kept for the step, which loads again and reports its own error
                future.set_exception(err)

        threading.Thread(target=load, name="preload-model", daemon=True).start()
        self._preloaded = (lineage, future)
        if context.log is not None:
            context.log.info(f"Loading {lineage.name} version {lineage.version} in the background.")

    def preloaded(self, lineage: ModelLineage) -> bool:
        """Whether the run started loading exactly this version in the background."""
        return self._preloaded is not None and self._preloaded[0] == lineage

    def model(self, lineage: ModelLineage, session):
        """The PipelineModel of `lineage`: the preloaded one if it is that version, else loaded now."""
        if self.preloaded(lineage):
            try:
                return self._preloaded[1].result()
            except Exception:  # a failed preload: the load below raises the error in the step
                pass
        return self._load(lineage, session)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._preloaded is not None:
            try:  # a load still running would add its stages after the release
                self._preloaded[1].result(timeout=PRELOAD_WAIT_SECONDS)
            except Exception:
                pass
        for model, session in self._loaded:
            release_remote_model(model, session)  # best effort: the server drops them with the session anyway
        self._loaded = []

    def _load(self, lineage: ModelLineage, session):
        model = load_spark_model(model_uri(lineage.name, lineage.version), session)
        self._loaded.append((model, session))
        return model
