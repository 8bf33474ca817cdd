"""The batched SQLite event log records a range run exactly as Dagster's own storage does."""
import os
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)

from pdm_assets.deployments.instance import BATCH_SIZE_VARIABLE, BatchedSqliteEventLogStorage, instance_yaml
from pdm_assets.partitions import range_tags

DAYS = DailyPartitionsDefinition(start_date="2015-01-01", end_date="2015-03-01")


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run(),
       check_specs=[AssetCheckSpec("rows_positive", asset="daily")])
def daily(context: AssetExecutionContext):
    for key in context.partition_keys:
        context.add_asset_metadata({"dagster/row_count": int(key[-2:]), "day": key}, partition_key=key)
    yield MaterializeResult(metadata={"run_days": len(context.partition_keys)})
    yield AssetCheckResult(check_name="rows_positive", passed=False)


def _record_range(dagster_home: Path, yaml: str) -> dict:
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        result = materialize([daily], instance=instance, tags=range_tags(date(2015, 1, 1), date(2015, 2, 28)),
                             raise_on_error=False)
        key = AssetKey("daily")
        records = instance.fetch_materializations(key, limit=1000).records
        return {
            "storage": type(instance.event_log_storage).__name__,
            "success": result.success,
            "partitions": sorted(instance.get_materialized_partitions(key)),
            "metadata": sorted((r.partition_key, r.asset_materialization.metadata["dagster/row_count"].value,
                                r.asset_materialization.metadata["day"].value) for r in records),
            "latest": instance.get_latest_materialization_event(key).asset_materialization.partition,
            "events": Counter(e.dagster_event_type for e in instance.all_logs(result.run_id) if e.is_dagster_event),
            "checks": [(c.status, c.partition) for c in instance.event_log_storage.get_asset_check_execution_history(
                next(iter(daily.check_keys)), limit=5)],
        }


@pytest.fixture
def batch_size_unset(monkeypatch):
    monkeypatch.delenv(BATCH_SIZE_VARIABLE, raising=False)
    yield
    os.environ.pop(BATCH_SIZE_VARIABLE, None)


def test_a_range_run_is_recorded_the_same_with_the_batched_event_log(tmp_path, batch_size_unset):
    stock = _record_range(tmp_path / "stock", "telemetry:\n  enabled: false\n")
    assert BATCH_SIZE_VARIABLE not in os.environ
    batched = _record_range(tmp_path / "batched", instance_yaml(tmp_path / "batched"))
    assert (stock.pop("storage"), batched.pop("storage")) == ("SqliteEventLogStorage",
                                                              BatchedSqliteEventLogStorage.__name__)
    assert os.environ[BATCH_SIZE_VARIABLE]  # the storage turned Dagster's batching on
    assert batched == stock
    assert len(stock["partitions"]) == 59 and stock["latest"] == "2015-02-28" and stock["success"]
    assert stock["events"]["ASSET_MATERIALIZATION"] == 59
    assert (tmp_path / "batched" / "history" / "runs" / "index.db").exists()  # where Dagster keeps it
