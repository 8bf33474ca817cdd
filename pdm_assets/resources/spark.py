"""The Spark session resource: embedded local Spark by default, Spark Connect when SPARK_REMOTE is set."""
from __future__ import annotations

from typing import Optional

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from pdm_assets.storage.spark_session import create_spark_session


class SparkSessionResource(ConfigurableResource):
    """A Spark session shared by every step of a run (in-process executor: one JVM per run)."""

    master: str = "local[*]"
    remote: Optional[str] = None
    shuffle_partitions: int = 8
    extra_conf: dict[str, str] = {}

    _session: Optional[SparkSession] = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._session = None  # created lazily: steps that never touch Spark never start a JVM

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = create_spark_session(
                master=self.master,
                remote=self.remote or None,
                shuffle_partitions=self.shuffle_partitions,
                extra_conf=self.extra_conf,
            )
        return self._session
