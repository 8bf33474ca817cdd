"""The same range on a real multi-process Spark cluster (standalone master + 2 workers on loopback) gives exactly
the rows of the embedded run: raw tables, features, labels and predictions, compared value by value."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import instance_for_test

from pdm_assets.simulator import generate

FIRST, LAST = date(2015, 1, 1), date(2015, 1, 4)
ASSETS = ("raw_machines", "raw_maint_history", "raw_telemetry", "raw_errors", "raw_maint", "raw_failures",
          "machine_features", "failure_labels", "failure_predictions")
RUN_STAMPS = {"ingested_at", "scored_at"}  # when a run wrote a row: the one thing two runs may not share
# A few simulated days have no failures: these give the labels something to be right about.
FAILURES = ['2015-01-02 06:00:00,2,"comp2"', '2015-01-03 09:00:00,4,"comp3"']


def _rows(home: Path, table: str) -> pd.DataFrame:
    """A table read without Spark (delta-rs), run stamps left out, in one order."""
    from deltalake import DeltaTable

    frame = DeltaTable(str(home / "warehouse" / "pdm" / table)).to_pandas()
    frame = frame.drop(columns=[c for c in frame.columns if c in RUN_STAMPS])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.cluster  # a master, two workers and their executors are JVMs of their own: run with -m cluster
@pytest.mark.slow
def test_a_range_on_a_standalone_cluster_gives_the_rows_of_the_embedded_run(spark, tmp_path: Path) -> None:
    from pdm_assets.definitions import build_definitions
    from pdm_assets.deployments import Settings
    from pdm_assets.tools.standalone_cluster import StandaloneCluster
    from pdm_assets_tests.assets.helpers import failure_message, materialize_range
    from pdm_assets_tests.deployments.databricks_cli import local_mlflow, register_champion

    landing = tmp_path / "landing"
    generate(landing, machines=4, start=FIRST, days=5, seed=11, progress=False)
    for line in FAILURES:
        with open(landing / "failures" / f"{line[:10]}.csv", "a") as day_file:
            day_file.write(line + "\n")
    embedded, clustered = tmp_path / "embedded", tmp_path / "clustered"
    # One registry, the embedded home's (its artifacts there too): both runs score with the same champion.
    common = {"PDM_LANDING_DIR": str(landing), "PDM_START_DATE": FIRST.isoformat(), "PDM_END_DATE": "2015-01-05",
              "PDM_SHUFFLE_PARTITIONS": "4", **local_mlflow(embedded)}
    version = register_champion(spark, {**common, "PDM_HOME": str(embedded)})
    defs = build_definitions(Settings.from_env({**common, "PDM_HOME": str(embedded)}))
    with instance_for_test() as instance:
        result = materialize_range(defs, " or ".join(f"key:{a}" for a in ASSETS), FIRST, LAST, instance)
        assert result.success, failure_message(result)

    with StandaloneCluster(workers=2, cores=1, memory="1g", work_dir=tmp_path / "cluster") as cluster:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PDM_", "DAGSTER_", "SPARK_REMOTE"))}
        (tmp_path / "dagster_home").mkdir()
        env.update(common, PDM_HOME=str(clustered), PDM_SPARK_MASTER=cluster.url, SPARK_LOCAL_IP="127.0.0.1",
                   DAGSTER_HOME=str(tmp_path / "dagster_home"))
        done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pdm_assets.definitions",
                               "--select", ",".join(ASSETS), "--partition-range", f"{FIRST}...{LAST}"],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
        # The work ran in executors the workers started (one per worker), not in the driver.
        executors = [p for p in (tmp_path / "cluster" / "work").glob("app-*/*") if (p / "stderr").is_file()]
        assert len({p.name for p in executors}) >= 2, [str(p) for p in executors]

    for table in ASSETS:
        here, there = _rows(embedded, table), _rows(clustered, table)
        assert len(here) > 0, table
        pd.testing.assert_frame_equal(here, there, check_exact=False, rtol=1e-12, obj=table)
    labels = _rows(clustered, "failure_labels")
    assert set(labels["label"]) >= {"comp2", "comp3", "none"}
    scored = _rows(clustered, "failure_predictions")
    assert set(scored["model_version"]) == {version} and len(scored) == 4 * 8 * 4
