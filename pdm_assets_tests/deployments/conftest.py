"""Fixtures of the Databricks end-to-end tests: a small landing zone and the emulated workspace."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Iterator

import pytest

from pdm_assets.simulator import generate
from pdm_assets_tests.deployments.databricks_cli import TOKEN, small_runtime_conf
from pdm_assets_tests.fakes import DatabricksEmulator


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated landing zone: 3 machines, 3 days."""
    folder = tmp_path_factory.mktemp("landing")
    generate(folder, machines=3, start=date(2015, 1, 1), days=3, seed=7, progress=False)
    return folder


@pytest.fixture
def api(tmp_path: Path) -> Iterator[DatabricksEmulator]:
    # The emulated runtime has Delta Lake, as Databricks Runtime does (the jars from Spark's local cache).
    with DatabricksEmulator(root=tmp_path / "workspace", token=TOKEN, pending_seconds=0.1,
                            terminating_seconds=0.1, runtime_spark_conf=small_runtime_conf()) as emulator:
        yield emulator


