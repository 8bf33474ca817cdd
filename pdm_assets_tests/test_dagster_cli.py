"""The CLI as users run it: `dagster definitions validate` and `dagster asset materialize`."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.simulator import generate

pytestmark = pytest.mark.slow  # starts processes of its own

DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.fixture
def cli_env(pdm_home, tmp_path):
    generate(pdm_home / "landing", machines=2, start=date(2015, 1, 1), days=5, seed=3, progress=False)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    env = {**os.environ, "PDM_HOME": str(pdm_home), "DAGSTER_HOME": str(dagster_home), "PDM_SPARK_MASTER": "local[2]"}
    return env, dagster_home


def _dagster(env, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([DAGSTER, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _runs(dagster_home: Path):
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        return [(r.status, dict(r.tags)) for r in instance.get_runs()]


def test_definitions_validate(cli_env):
    env, _ = cli_env
    done = _dagster(env, "definitions", "validate", "-m", "pdm_assets.definitions")
    assert "Validation successful" in done.stdout + done.stderr


def test_materialize_one_partition_then_a_range_as_one_run(cli_env, pdm_home):
    env, dagster_home = cli_env
    _dagster(env, "asset", "materialize", "-m", "pdm_assets.definitions",
             "--select", "key:raw_*", "--partition", "2015-01-05")
    runs = _runs(dagster_home)
    assert [(status, tags.get("dagster/partition")) for status, tags in runs] == [(DagsterRunStatus.SUCCESS, "2015-01-05")]

    _dagster(env, "asset", "materialize", "-m", "pdm_assets.definitions",
             "--select", "key:raw_*", "--partition-range", "2015-01-01...2015-01-04")
    runs = _runs(dagster_home)
    assert len(runs) == 2  # the whole range is a single run
    status, tags = runs[0]  # newest first
    assert status == DagsterRunStatus.SUCCESS
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2015-01-01", "2015-01-04")
    store = DeltaTableStore.local(pdm_home / "warehouse")
    for table in ("raw_telemetry", "raw_errors", "raw_maint", "raw_failures"):
        assert store.existing_days(table) == [date(2015, 1, d) for d in range(1, 6)], table
