"""Fixtures shared by the asset tests: one labelled quarter built once per test session."""
from __future__ import annotations

from datetime import date

import pytest
from dagster import instance_for_test

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.simulator import generate
from pdm_assets_tests.assets.helpers import failure_message, materialize_range

FIRST, LAST = date(2015, 1, 1), date(2015, 3, 31)


@pytest.fixture(scope="session")
def labelled(spark, tmp_path_factory):
    """Raw tables, features and labels for a quarter of 10 machines (seed 30 gives every failure class in
    each of the fit, tuning and holdout periods), built once: training and scoring tests share it."""
    home = tmp_path_factory.mktemp("pdm_home")
    generate(home / "landing", machines=10, start=FIRST, days=91, seed=30, progress=False)
    settings = Settings.from_env({"PDM_HOME": str(home), "PDM_START_DATE": "2015-01-01",
                                  "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "test_failure_model"})
    defs = build_definitions(settings)
    with instance_for_test() as instance:
        result = materialize_range(defs, "group:raw or group:features", FIRST, LAST, instance)
        assert result.success, failure_message(result)
        yield defs, instance, settings
