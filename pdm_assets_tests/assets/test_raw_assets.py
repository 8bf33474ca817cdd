"""Raw assets over simulated landing files: one run per range, exact-day replacement, safe failures."""
from __future__ import annotations

from datetime import date

import pytest
from dagster import instance_for_test

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.pipeline.schemas import EVENT_DATASETS
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.simulator import generate
from pdm_assets_tests.assets.helpers import check_outcomes, failure_message, materialize_range, row_counts

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

D1, D2, D3 = date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)
MACHINES = 3


@pytest.fixture
def setup(spark, pdm_home):
    generate(pdm_home / "landing", machines=MACHINES, start=D1, days=3, seed=7, progress=False)
    settings = Settings.from_env()
    with instance_for_test() as instance:
        yield settings, build_definitions(settings), instance, DeltaTableStore.local(settings.warehouse)


def test_a_range_is_one_run_with_per_day_figures_and_passing_checks(setup, spark):
    settings, defs, instance, store = setup
    result = materialize_range(defs, "group:raw", D1, D3, instance)
    assert result.success, failure_message(result)
    assert len(instance.get_runs()) == 1
    assert row_counts(result, "raw_telemetry") == {d.isoformat(): MACHINES * 24 for d in (D1, D2, D3)}
    outcomes = check_outcomes(result)
    assert outcomes[("raw_telemetry", "telemetry_complete")] is True
    assert all(outcomes.values()), outcomes
    assert store.read(spark, "raw_telemetry").count() == 3 * MACHINES * 24
    # a day of a dataset counts as ingested even without rows (few machines rarely fail on a given day)
    assert all(store.existing_days(d.table) == [D1, D2, D3] for d in EVENT_DATASETS)
    assert store.read(spark, "raw_telemetry_rejects").count() == 0


def test_rematerializing_a_day_replaces_exactly_that_day_and_keeps_rejects(setup, spark):
    settings, defs, instance, store = setup
    assert materialize_range(defs, "group:raw", D1, D3, instance).success
    before = {r["date"]: r["ingested_at"] for r in store.read(spark, "raw_errors").select("date", "ingested_at").distinct().collect()}
    day2 = settings.landing_dir / "telemetry" / "2015-01-02.csv"
    lines = day2.read_text().splitlines()
    lines[5] = lines[5].replace(",", ",oops", 2).replace(",oops", ",", 1)  # corrupt the volt of line 6
    day2.write_text("\n".join(lines) + "\n")
    result = materialize_range(defs, "key:raw_telemetry", D2, D2, instance)
    assert result.success, failure_message(result)
    assert row_counts(result, "raw_telemetry") == {"2015-01-02": MACHINES * 24 - 1}
    rejects = store.read(spark, "raw_telemetry_rejects", [D2]).collect()
    assert [(r["line_number"], r["reason"].split(":")[0]) for r in rejects] == [(6, "volt")]
    assert store.read(spark, "raw_telemetry", [D1]).count() == MACHINES * 24
    after = {r["date"]: r["ingested_at"] for r in store.read(spark, "raw_errors").select("date", "ingested_at").distinct().collect()}
    assert after == before  # other tables untouched


def test_a_missing_day_file_fails_naming_it_and_keeps_earlier_data(setup, spark):
    settings, defs, instance, store = setup
    assert materialize_range(defs, "group:raw", D1, D2, instance).success
    kept = sorted(tuple(r) for r in store.read(spark, "raw_failures").collect())
    (settings.landing_dir / "failures" / "2015-01-02.csv").unlink()
    result = materialize_range(defs, "key:raw_failures", D1, D2, instance)
    assert not result.success
    assert "failures" in failure_message(result) and "2015-01-02.csv" in failure_message(result)
    assert sorted(tuple(r) for r in store.read(spark, "raw_failures").collect()) == kept


def test_a_missing_column_fails_naming_file_and_column_and_keeps_earlier_data(setup, spark):
    settings, defs, instance, store = setup
    assert materialize_range(defs, "group:raw", D1, D1, instance).success
    kept = store.read(spark, "raw_telemetry").count()
    day1 = settings.landing_dir / "telemetry" / "2015-01-01.csv"
    day1.write_text(day1.read_text().replace('"vibration"', '"vibr"', 1))
    result = materialize_range(defs, "key:raw_telemetry", D1, D1, instance)
    assert not result.success
    message = failure_message(result)
    assert "2015-01-01.csv, line 1: missing column 'vibration'" in message
    assert store.read(spark, "raw_telemetry").count() == kept
