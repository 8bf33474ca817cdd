"""The Spark session: embedded local Spark by default, Spark Connect when SPARK_REMOTE is set."""
from __future__ import annotations

from typing import Optional

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from pdm_assets.resources.java import require_java

# Session settings every deployment needs: timestamps in the landing files are naive wall-clock
# times, so the session must not shift them by the host's zone.
RUNTIME_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # A year of day files or day folders is a few hundred paths: list them on the driver instead
    # of starting a distributed listing job for every read (the default kicks in past 32 paths).
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
}
# Spark keeps the classes it compiles for a plan in a JVM-wide cache of 100 by default. A new
# day's run (ingestion, features, scoring, their checks) compiles about 250, so with the default
# every run compiled everything again: 800 compilations and 27 s of compile time over three new
# days on a warm Connect server here, 290 with this. A static setting: it has to be given when
# the JVM starts (here for the embedded session; `--conf` for a Connect server, see the README).
CODEGEN_CACHE_CONF = {"spark.sql.codegen.cache.maxEntries": "2000"}
# Settings that only apply when we start the JVM ourselves.
EMBEDDED_CONF = {
    **CODEGEN_CACHE_CONF,
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "6g",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # PySpark 4 records the Python call site of every column function for error messages, at the
    # price of 3-4 round trips to the JVM per call (a tenth of a second per table's parse plan
    # here); Spark's own errors still name the failing expression.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}


def create_spark_session(
    master: str = "local[*]",
    remote: Optional[str] = None,
    shuffle_partitions: int = 8,
    extra_conf: Optional[dict[str, str]] = None,
    app_name: str = "pdm_assets",
) -> SparkSession:
    """Return (or reuse) a session: Spark Connect if `remote` is given, else an embedded JVM."""
    conf = {**RUNTIME_CONF, "spark.sql.shuffle.partitions": str(shuffle_partitions), **(extra_conf or {})}
    if remote:
        session = SparkSession.builder.remote(remote).getOrCreate()
    else:
        active = SparkSession.getActiveSession()
        if active is not None:
            session = active
        else:
            require_java()
            builder = SparkSession.builder.master(master).appName(app_name)
            for key, value in {**EMBEDDED_CONF, **conf}.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
    for key, value in conf.items():
        if not key.startswith("spark.driver."):
            session.conf.set(key, value)
    return session


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
