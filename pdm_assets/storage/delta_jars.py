"""Delta Lake's jars for the Spark sessions this project starts: resolved once from Maven, then read from the cache.

The delta-spark wheel carries only Python; its jars come the way Delta documents it
(`configure_spark_with_delta_pip`: Spark's package resolution of `io.delta:delta-spark_2.13:<version>`
into Spark's Ivy cache). Once they are in that cache, sessions name the cached files directly
(`spark.jars`): no resolution at start-up, so no network and no resolver report on every start.
"""
from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

from pdm_assets.storage.errors import DeltaJarsUnavailableError

SCALA = "2.13"
# The Maven artifacts Spark's resolution of delta-spark gives, per delta-spark version: a lock, so
# a cached set can be used without resolving again (a test compares it with what Ivy resolved).
RESOLVED = {
    "4.0.1": ("io.delta:delta-spark_2.13:4.0.1", "io.delta:delta-storage:4.0.1", "org.antlr:antlr4-runtime:4.13.1"),
}
SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
DOWNLOAD_MB = 16  # the three jars of 4.0.1


def delta_version() -> str:
    """The installed delta-spark version (what the jars must match)."""
    return metadata.version("delta-spark")


def package() -> str:
    """The Maven coordinate of the Delta jar for the installed delta-spark."""
    return f"io.delta:delta-spark_{SCALA}:{delta_version()}"


def ivy_home() -> Path:
    """Spark 4's default Ivy folder (`spark.jars.ivy`); PDM_IVY_HOME moves it (tests, shared caches)."""
    return Path(os.environ.get("PDM_IVY_HOME") or Path.home() / ".ivy2.5.2").expanduser()


def _jar_file(coordinate: str) -> str:
    group, artifact, version = coordinate.split(":")
    return f"{group}_{artifact}-{version}.jar"


def cached_jars(ivy: Optional[Path] = None) -> Optional[list[Path]]:
    """The resolved jars in the Ivy cache, or None when one of them (or the lock for this version) is missing."""
    coordinates = RESOLVED.get(delta_version())
    if coordinates is None:
        return None
    jars = [(ivy or ivy_home()) / "jars" / _jar_file(c) for c in coordinates]
    return jars if all(j.is_file() for j in jars) else None


def session_conf() -> dict[str, str]:
    """Settings that give an embedded session Delta: the cached jars, or the package to resolve."""
    jars = cached_jars()
    found = {"spark.jars": ",".join(str(j) for j in jars)} if jars else {
        "spark.jars.packages": package(), "spark.jars.ivy": str(ivy_home())}
    return {**SESSION_CONF, **found}


def server_args() -> list[str]:
    """spark-submit arguments that give a Spark Connect server Delta (same cache rule)."""
    jars = cached_jars()
    found = ["--jars", ",".join(str(j) for j in jars)] if jars else [
        "--packages", package(), "--conf", f"spark.jars.ivy={ivy_home()}"]
    return found + [arg for key, value in SESSION_CONF.items() for arg in ("--conf", f"{key}={value}")]


def announce_download() -> None:
    """Say once, before Spark resolves them, what the first session downloads and where it goes."""
    if cached_jars() is None:
        print(f"pdm_assets: first Spark session with Delta Lake: resolving {package()} (about {DOWNLOAD_MB} MB) "
              f"into {ivy_home()}; later sessions read it from there.", file=sys.stderr)


def unavailable(cause: BaseException) -> Optional[DeltaJarsUnavailableError]:
    """The clear error for a session that failed to start because the jars could not be had, else None."""
    if cached_jars() is not None:
        return None  # the jars are there: the failure is something else
    return DeltaJarsUnavailableError(
        f"Spark could not start with Delta Lake: its jars ({package()} and its dependencies) are not in the "
        f"local cache {ivy_home() / 'jars'} and could not be downloaded (no network, or Maven Central not "
        f"reachable). Run once where it is reachable (about {DOWNLOAD_MB} MB, cached for later runs), or copy "
        f"{', '.join(_jar_file(c) for c in RESOLVED.get(delta_version(), (package(),)))} into that folder. "
        f"Spark said: {str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__}")
