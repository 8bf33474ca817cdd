"""PDM_DEPLOYMENT=connect: the same assets run against a real Spark Connect server."""
from __future__ import annotations

import pytest

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.simulator import generate
from pdm_assets.tools.connect_server import connect_server

pytestmark = pytest.mark.slow  # starts processes of its own


def test_raw_and_feature_assets_run_over_spark_connect(pdm_home, tmp_path, spark):
    generate(pdm_home / "landing", machines=2, start=date(2015, 1, 1), days=3, seed=5, progress=False)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with connect_server(tmp_path / "connect") as remote:
        # No Java for the client: an embedded Spark could not start, so success means Connect did the work.
        env = {**os.environ, "PDM_HOME": str(pdm_home), "DAGSTER_HOME": str(dagster_home),
               "PDM_DEPLOYMENT": "connect", "SPARK_REMOTE": remote, "JAVA_HOME": str(tmp_path / "no-java")}
        done = subprocess.run(
            [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "pdm_assets.definitions",
             "--select", "group:raw or group:features", "--partition-range", "2015-01-01...2015-01-02"],
            env=env, capture_output=True, text=True, timeout=600,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert [r.status for r in instance.get_runs()] == [DagsterRunStatus.SUCCESS]
    store = DeltaTableStore.local(pdm_home / "warehouse")
    assert store.read(spark, "raw_telemetry").count() == 2 * 2 * 24
    assert store.read(spark, "machine_features").count() == 2 * 2 * 8
