"""The real published event files land and ingest unchanged: exact counts, zero rejects."""
from __future__ import annotations

from datetime import date

import pytest
from dagster import instance_for_test

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.simulator import land_bulk
from pdm_assets_tests.assets.helpers import failure_message, materialize_range
from pdm_assets_tests.conftest import PUBLISHED_EVENTS

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

FIRST, LAST = date(2020, 1, 1), date(2021, 1, 1)  # the published year, shifted +5 years


def test_published_event_files_ingest_with_exact_counts_and_no_rejects(spark, pdm_home, monkeypatch):
    monkeypatch.setenv("PDM_START_DATE", FIRST.isoformat())
    monkeypatch.setenv("PDM_END_DATE", "2021-01-02")
    land_bulk(sorted(PUBLISHED_EVENTS.glob("PdM_*.csv")), pdm_home / "landing", FIRST)
    settings = Settings.from_env()
    selection = "key:raw_machines or key:raw_maint_history or key:raw_errors or key:raw_maint or key:raw_failures"
    with instance_for_test() as instance:
        result = materialize_range(build_definitions(settings), selection, FIRST, LAST, instance)
        assert result.success, failure_message(result)
        assert len(instance.get_runs()) == 1
    store = DeltaTableStore.local(settings.warehouse)
    count = lambda table: store.read(spark, table).count()  # noqa: E731
    assert count("raw_machines") == 100
    assert count("raw_errors") == 3919
    assert count("raw_failures") == 761
    assert count("raw_maint") + count("raw_maint_history") == 3286
    assert count("raw_maint_history") == 400  # everything before 2020-01-01
    for table in ("raw_machines", "raw_maint_history", "raw_errors", "raw_maint", "raw_failures"):
        assert count(f"{table}_rejects") == 0, table
    by_type = {r["error_id"]: r["count"] for r in store.read(spark, "raw_errors").groupBy("error_id").count().collect()}
    assert by_type == {"error1": 1010, "error2": 988, "error3": 838, "error4": 727, "error5": 356}
