"""A Spark session that reaches the tables: embedded with Delta Lake's jars, or a Spark Connect client.

Dagster-free, so a user's own session (`local_tables.open_session`), the tools and the resource
all start Spark the same way; the Java check says clearly what is missing before a JVM is tried.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pyspark
from pyspark import SparkContext
from pyspark.sql import SparkSession

from pdm_assets.storage import delta_jars, jvm_archive

# Session settings every deployment needs: timestamps in the landing files are naive wall-clock
# times, so the session must not shift them by the host's zone.
RUNTIME_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # A year of day files or day folders is a few hundred paths: list them on the driver instead
    # of starting a distributed listing job for every read (the default kicks in past 32 paths).
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
}
# Delta rebuilds a table's state (its list of live files) with a Spark job after every commit;
# the default of 50 tasks suits logs of millions of files, ours hold hundreds.
LOCAL_DELTA_CONF = {"spark.databricks.delta.snapshotPartitions": "2"}
# Spark's cache of compiled plan classes (100 by default) is smaller than one new day's run needs
# (ingestion, features, scoring and their checks), so every run would compile again: raise it.
# A static setting, given when the JVM starts (here for the embedded session; `--conf` for a
# Connect server). The measured cost is in docs/benchmarks.md.
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
    # price of round trips to the JVM per call; Spark's own errors still name the failing expression.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
    **LOCAL_DELTA_CONF,
}


JAVA_OPTIONS = "spark.driver.extraJavaOptions"


# PySpark 4 starts its JVM with the `java` of JAVA_HOME or PATH: say clearly when it is missing or too old.
MIN_JAVA = 17


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime for the embedded Spark."""


def java_major_version() -> tuple[int, str]:
    """Return (major version, path) of the `java` Spark will start; raise a readable error otherwise."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaNotFoundError(
            f"PySpark 4 needs Java {MIN_JAVA} or newer, and no `java` was found "
            f"({'JAVA_HOME=' + java_home if java_home else 'not on PATH'}). "
            "Install one, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    text = _version_text(java)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise JavaNotFoundError(f"Could not read the Java version from `{java} -version`: {text.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major, java


@functools.lru_cache(maxsize=None)
def _version_text(java: str) -> str:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return out.stderr + out.stdout


def driver_identity(conf: Optional[dict[str, str]] = None) -> Optional[str]:
    """What an embedded driver JVM's archived classes depend on (Java build, Spark's jars, added jars), or None.

    None while Delta's jars are still to be resolved (`spark.jars.packages`): the next session names
    the cached files, so an archive recorded now would never be mapped.
    """
    settings = conf if conf is not None else delta_jars.session_conf()
    if settings.get("spark.jars.packages"):
        return None
    _, java = java_major_version()
    spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__)
    jars = sorted(Path(spark_home, "jars").glob("*.jar"))
    added = [Path(j) for j in settings.get("spark.jars", "").split(",") if j]
    # Java checks each class path entry's size and time: a reinstalled jar must name a new archive.
    files = [f"{j}:{j.stat().st_size}:{int(j.stat().st_mtime)}" for j in (*jars, *added) if j.is_file()]
    return "|".join([os.path.realpath(java), _version_text(java).strip(), pyspark.__version__, spark_home,
                     settings.get("spark.driver.extraClassPath", ""), *files])


def require_java() -> None:
    """Raise JavaNotFoundError unless Java >= 17 is available."""
    major, java = java_major_version()
    if major < MIN_JAVA:
        raise JavaNotFoundError(
            f"PySpark 4 needs Java {MIN_JAVA} or newer; {java} is Java {major}. "
            "Install openjdk-17 (or newer) and point JAVA_HOME at it."
        )


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
            session = _start_embedded(master, app_name, {**EMBEDDED_CONF, **delta_jars.session_conf(), **conf})
    for key, value in conf.items():
        if not key.startswith("spark.driver."):
            session.conf.set(key, value)
    return session


def _start_embedded(master: str, app_name: str, conf: dict[str, str]) -> SparkSession:
    """Start the JVM with Delta Lake (and the class archive); a clear error when its jars can be neither found nor fetched."""
    require_java()
    # Python workers run this interpreter (the project's environment), not whatever `python3` is
    # first on PATH; PySpark reads only the environment variable for that.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    delta_jars.announce_download()
    options, recording = _archive_options(conf)
    if options:
        try:
            session = _get_or_create(master, app_name, {**conf, JAVA_OPTIONS: f"{conf.get(JAVA_OPTIONS, '')} {options}".strip()})
        except Exception as err:
            if recording is not None:
                recording.abandon()
            if SparkContext._gateway is not None:  # the JVM started: the failure is not the archive's
                _raise_if_jars_missing(err)
                raise
            # A JVM that refuses the archive's options (no base archive, -Xshare:off) starts without them.
        else:
            if recording is not None:
                jvm_archive.finish_at_exit(recording, SparkContext._gateway.proc)
            return session
    try:
        return _get_or_create(master, app_name, conf)
    except Exception as err:
        _raise_if_jars_missing(err)
        raise


def _archive_options(conf: dict[str, str]) -> tuple[str, Optional[jvm_archive.Recording]]:
    """The class archive's options when this call starts the driver JVM itself, else none."""
    started_elsewhere = SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ
    # `--driver-java-options` in PYSPARK_SUBMIT_ARGS replaces ours: the archive would be taken for nothing.
    replaced = "--driver-java-options" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if started_elsewhere or replaced:
        return "", None
    return jvm_archive.driver_options(driver_identity(conf))


def _get_or_create(master: str, app_name: str, conf: dict[str, str]) -> SparkSession:
    """Start (or get) the embedded session with `conf`."""
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _raise_if_jars_missing(err: Exception) -> None:
    """Say plainly that Delta's jars are missing when that is why the session did not start."""
    missing = delta_jars.unavailable(err)
    if missing is not None:
        raise missing from err
