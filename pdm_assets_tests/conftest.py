"""Shared fixtures: one embedded Spark session per test run (starting a JVM is slow, so once is enough), and one
labelled quarter (raw tables, features, labels) that the training, scoring and Databricks tests share."""
from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_EVENTS = Path(__file__).resolve().parent / "data"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Without Java 17+ stop at once with the reason, not with a traceback in every Spark test."""
    from pdm_assets.storage.spark_session import JavaNotFoundError, require_java

    try:
        require_java()
    except JavaNotFoundError as err:
        pytest.exit(f"pdm_assets tests: {err}", returncode=2)


@pytest.fixture(scope="session", autouse=True)
def _small_spark_settings():
    """Tiny test data: 2 shuffle partitions, also for sessions the Dagster resources configure.

    Set in the environment because subprocesses (the CLI, the webserver) read it there; restored after.
    """
    small = {"PDM_SHUFFLE_PARTITIONS": "2", "PDM_SPARK_MASTER": "local[2]"}
    before = {name: os.environ.get(name) for name in small}
    os.environ.update(small)
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def class_load_log(tmp_path_factory) -> Path:
    """Where the shared session's JVM logs each class it loads and where from (the archive's test reads it)."""
    return tmp_path_factory.mktemp("jvm") / "class_load.log"


@pytest.fixture(scope="session")
def spark(class_load_log):
    """One `local[2]` session, UI off, few shuffle partitions.

    The JVM class archive is recorded first when missing (a fresh machine): this session and the
    many JVMs the subprocess tests start then all map it.
    """
    from pdm_assets.storage.spark_session import create_spark_session
    from pdm_assets.tools.record_jvm_archive import record_now

    record_now()
    session = create_spark_session(master="local[2]", shuffle_partitions=2, extra_conf={
        "spark.driver.memory": "2g", "spark.driver.extraJavaOptions": f"-Xlog:class+load=info:file={class_load_log}"})
    yield session
    session.stop()


@pytest.fixture
def pdm_home(tmp_path, monkeypatch) -> Path:
    """A fresh PDM_HOME (landing zone, warehouse, mlflow) per test."""
    home = tmp_path / "pdm_home"
    home.mkdir()
    monkeypatch.setenv("PDM_HOME", str(home))
    monkeypatch.delenv("PDM_LANDING_DIR", raising=False)
    return home


@pytest.fixture
def compiled_classes(spark):
    """How many classes Spark's code generator has compiled in this JVM so far (a callable).

    Spark caches generated classes by their source text: a plan that differs from an earlier one
    only in its data compiles nothing new, one with a changed literal compiles again.
    """
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    return lambda: int(metrics.METRIC_COMPILATION_TIME().getCount())


FIRST, LAST = date(2015, 1, 1), date(2015, 3, 31)


@pytest.fixture(scope="session")
def labelled(spark, tmp_path_factory):
    """Raw tables, features and labels for a quarter of 10 machines (seed 30 gives every failure class in
    each of the fit, tuning and holdout periods), built once: training and scoring tests share it."""
    from dagster import instance_for_test

    from pdm_assets.definitions import build_definitions
    from pdm_assets.deployments import Settings
    from pdm_assets.simulator import generate
    from pdm_assets_tests.assets.helpers import failure_message, materialize_range

    home = tmp_path_factory.mktemp("pdm_home")
    generate(home / "landing", machines=10, start=FIRST, days=91, seed=30, progress=False)
    settings = Settings.from_env({"PDM_HOME": str(home), "PDM_START_DATE": "2015-01-01",
                                  "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "test_failure_model"})
    defs = build_definitions(settings)
    with instance_for_test() as instance:
        result = materialize_range(defs, "group:raw or group:features", FIRST, LAST, instance)
        assert result.success, failure_message(result)
        yield defs, instance, settings
