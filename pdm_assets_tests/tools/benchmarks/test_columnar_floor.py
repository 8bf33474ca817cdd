"""The benchmarks' yardstick computes what the project computes: DuckDB's features and labels equal the tables."""
from __future__ import annotations

from datetime import date

import pytest
from dagster import instance_for_test

from pdm_assets.definitions import build_definitions
from pdm_assets.deployments import Settings
from pdm_assets.simulator import generate
from pdm_assets.tools.benchmarks import columnar_floor
from pdm_assets_tests.assets.helpers import failure_message, materialize_range

# A Dagster run of the Spark assets: outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

FIRST, LAST = date(2015, 1, 1), date(2015, 1, 5)
MACHINES = 4
# Failures are rare in a few simulated days: these make sure labels are compared where they matter,
# with two components failing on one machine at the same instant (the lower name labels).
FAILURES = ['2015-01-03 06:00:00,2,"comp2"', '2015-01-04 09:00:00,4,"comp3"', '2015-01-04 09:00:00,4,"comp1"']


def test_the_columnar_floor_gives_the_project_s_features_and_labels_value_by_value(spark, pdm_home):
    generate(pdm_home / "landing", machines=MACHINES, start=FIRST, days=(LAST - FIRST).days + 1, seed=5, progress=False)
    for line in FAILURES:
        with open(pdm_home / "landing" / "failures" / f"{line[:10]}.csv", "a") as day_file:
            day_file.write(line + "\n")
    settings = Settings.from_env({"PDM_HOME": str(pdm_home)})
    with instance_for_test() as instance:
        result = materialize_range(build_definitions(settings), "group:raw or group:features", FIRST, LAST, instance)
        assert result.success, failure_message(result)

    con = columnar_floor._connect()
    floor = columnar_floor.compute(con, pdm_home / "landing", FIRST, LAST)
    grid_points = MACHINES * ((LAST - FIRST).days + 1) * 8
    assert (floor.feature_rows, floor.label_rows) == (grid_points, grid_points)
    assert columnar_floor.compare(con, settings.warehouse) == []
    labelled = dict(con.execute("SELECT label, count(*) FROM floor_labels WHERE machine_id IN (2, 4) "
                                "AND label <> 'none' GROUP BY label").fetchall())
    assert labelled.get("comp2", 0) >= 8 and labelled.get("comp1", 0) >= 8 and "comp3" not in labelled, labelled

    # the comparison finds a value that is off in the last digits it keeps, and a missing grid point
    con.execute("UPDATE floor_features SET volt_mean_24h = volt_mean_24h * (1 + 1e-7) "
                "WHERE machine_id = 2 AND timestamp = TIMESTAMP '2015-01-03 06:00:00'")
    con.execute("DELETE FROM floor_labels WHERE machine_id = 3 AND timestamp = TIMESTAMP '2015-01-05 00:00:00'")
    problems = columnar_floor.compare(con, settings.warehouse)
    assert len(problems) == 2, problems
    assert "machine 2 at 2015-01-03 06:00:00: volt_mean_24h" in problems[0]
    assert "machine 3 at 2015-01-05 00:00:00: only in the project's table" in problems[1]
