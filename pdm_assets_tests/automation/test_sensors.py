"""What the re-scoring sensors see when this host cannot read the tables (Unity Catalog): the instance's records."""
from __future__ import annotations

from datetime import date

import pytest
from dagster import AssetMaterialization, instance_for_test

from pdm_assets.automation.sensors import materialized_days, stale_days, versions_by_day_from_events

pytestmark = pytest.mark.usefixtures("no_spark_started")


def test_each_day_counts_with_the_version_of_its_latest_materialization() -> None:
    with instance_for_test() as instance:
        for day, version in (("2015-01-02", "1"), ("2015-01-03", "1"), ("2015-01-02", "2")):
            instance.report_runless_asset_event(AssetMaterialization(
                "failure_predictions", partition=day, metadata={"model_version": version}))
        instance.report_runless_asset_event(AssetMaterialization("failure_predictions", partition="2015-01-05"))
        instance.report_runless_asset_event(AssetMaterialization("machine_features", partition="2015-01-04"))

        versions = versions_by_day_from_events(instance, "failure_predictions")
        featured = materialized_days(instance, "machine_features")

    # 01-02 was re-scored by v2; 01-05 has no model_version recorded, so it cannot be judged stale.
    assert versions == {date(2015, 1, 2): {"2"}, date(2015, 1, 3): {"1"}}
    assert stale_days(versions, "2") == [date(2015, 1, 3)]
    assert featured == [date(2015, 1, 4)]
