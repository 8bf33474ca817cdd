"""The simulator's copy of the column contract matches `pipeline.schemas`, and it needs no Spark."""
from __future__ import annotations

import subprocess
import sys

from pdm_assets.pipeline import schemas
from pdm_assets.simulator import columns


def test_columns_match_the_schemas():
    assert columns.COMPONENTS == schemas.COMPONENTS
    assert columns.ERROR_IDS == schemas.ERROR_IDS
    assert columns.MACHINE_MODELS == schemas.MACHINE_MODELS
    assert columns.SIGNALS == schemas.SIGNALS
    assert columns.COLUMNS == {name: d.source_columns for name, d in schemas.DATASETS.items()}


def test_simulator_imports_neither_dagster_nor_pyspark():
    code = (
        "import sys, pdm_assets.simulator, pdm_assets.simulator.cli, pdm_assets.simulator.calibrate;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'pyspark')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
