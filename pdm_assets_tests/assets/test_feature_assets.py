"""Feature and label assets: range runs equal single days in any order; labels say when they are final."""
from __future__ import annotations

import re
from datetime import date

import pytest
from dagster import instance_for_test

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.simulator import generate
from pdm_assets_tests.assets.helpers import check_outcomes, failure_message, materialize_range, row_counts

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

D1, D4 = date(2015, 1, 1), date(2015, 1, 4)
DAYS = [date(2015, 1, d) for d in range(1, 5)]
MACHINES = 4


def _table(store, spark, name):
    """Rows with floats rounded to 1e-9: Spark sums in no fixed order, so the last bits vary."""
    rows = store.read(spark, name).collect()
    return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows)


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    """One raw ingestion for the module: the tests only (re)write features and labels."""
    home = tmp_path_factory.mktemp("pdm_home")
    generate(home / "landing", machines=MACHINES, start=D1, days=5, seed=11, progress=False)
    settings = Settings.from_env({"PDM_HOME": str(home)})
    defs = build_definitions(settings)
    with instance_for_test() as instance:
        assert materialize_range(defs, "group:raw", D1, date(2015, 1, 5), instance).success
        yield defs, instance, DeltaTableStore.local(settings.warehouse)


def test_range_equals_single_days_in_any_order(ingested, spark):
    defs, instance, store = ingested
    days = DAYS[1:]  # from day 2: every window has its full lookback
    for day in (days[1], days[2], days[0]):
        result = materialize_range(defs, "group:features", day, day, instance)
        assert result.success, failure_message(result)
    singles = _table(store, spark, "machine_features"), _table(store, spark, "failure_labels")

    result = materialize_range(defs, "group:features", days[0], days[-1], instance)
    assert result.success, failure_message(result)
    assert (_table(store, spark, "machine_features"), _table(store, spark, "failure_labels")) == singles
    assert row_counts(result, "machine_features") == {d.isoformat(): MACHINES * 8 for d in days}
    outcomes = check_outcomes(result)
    assert outcomes[("machine_features", "one_row_per_machine_and_grid_point")]
    assert outcomes[("machine_features", "no_null_features")]
    assert outcomes[("failure_labels", "every_label_has_a_feature_row")]
    assert outcomes[("failure_labels", "labels_final")]  # 2015-01-05 was ingested: 01-04's horizon is known


def test_labels_of_the_last_arrived_day_are_not_final(ingested, spark):
    defs, instance, store = ingested
    result = materialize_range(defs, "group:features", date(2015, 1, 4), date(2015, 1, 5), instance)
    assert result.success, failure_message(result)
    assert check_outcomes(result)[("failure_labels", "labels_final")] is False
    mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    labels = next(m for m in mats if m.asset_key.to_user_string() == "failure_labels")
    assert labels.metadata["days_not_final"].value == "2015-01-05"  # 01-06's failures have not arrived
    finality = {(r["date"], r["final"]) for r in store.read(spark, "failure_labels", [date(2015, 1, 4), date(2015, 1, 5)])
                .select("date", "final").distinct().collect()}
    assert finality == {(date(2015, 1, 4), True), (date(2015, 1, 5), False)}


def test_labels_of_a_day_whose_failures_were_never_ingested_fail_naming_it(ingested, spark):
    defs, instance, store = ingested
    result = materialize_range(defs, "key:failure_labels", date(2015, 1, 7), date(2015, 1, 7), instance)
    assert not result.success
    assert "raw_failures has no data for 2015-01-07, the days these labels are for" in failure_message(result)


def test_the_first_day_of_the_timeline_warns_of_its_short_windows(ingested, spark):
    defs, instance, store = ingested
    result = materialize_range(defs, "group:features", D1, D1, instance)
    assert result.success, failure_message(result)
    assert check_outcomes(result)[("machine_features", "no_null_features")] is False
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_null_features")
    nulls = evaluation.metadata["columns_with_nulls"].value
    # Only stds at 00:00 of the first day lack data (one reading in either window, no earlier day).
    signals = ("volt", "rotate", "pressure", "vibration")
    assert set(nulls) == {f"{s}_std_{w}" for s in signals for w in ("3h", "24h")}
    assert set(nulls.values()) == {MACHINES}


def test_a_missing_upstream_day_fails_instead_of_giving_partial_windows(ingested, spark):
    defs, instance, store = ingested
    result = materialize_range(defs, "key:machine_features", date(2015, 1, 7), date(2015, 1, 7), instance)
    assert not result.success
    assert re.search(r"raw_(telemetry|errors) has no data for 2015-01-06, 2015-01-07", failure_message(result))
