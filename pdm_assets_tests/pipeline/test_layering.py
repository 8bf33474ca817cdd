"""pipeline/ stays pure PySpark: importing every module of it loads no Dagster."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import pdm_assets.pipeline


def test_pipeline_imports_no_dagster():
    modules = [f"pdm_assets.pipeline.{m.name}" for m in pkgutil.iter_modules(pdm_assets.pipeline.__path__)]
    assert "pdm_assets.pipeline.alerts" in modules and len(modules) > 10
    code = (f"import sys, {', '.join(modules)};"
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dagster_pyspark', 'dagster_databricks'});"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
