"""What every Spark asset shares: the decorator preset, its typed resources, and how a step records its days.

`spark_asset` / `spark_multi_asset` are the only way the assets are declared, so the rules hold by
construction: one run per range (single-run backfill, one Spark session for all its days), the
step resources and the `spark` kind. Two of those resources decide where a step runs without touching
the assets: `step_launcher` (none, or the Databricks launcher) and `databricks_pipes` (none, or the
Pipes runner: then the body runs on Databricks and its events are replayed here).
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Collection, Mapping, Optional, Sequence

from dagster import AssetExecutionContext, BackfillPolicy, MetadataValue, asset, multi_asset

from pdm_assets.resources.landing import LandingZoneResource
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.tables import TableStoreResource, commit_metadata, day_commit_metadata
from pdm_assets.storage.base import TableStore
from pdm_assets.storage.base import Commit

PIPES_RUNNER = "databricks_pipes"
SPARK_STEP_RESOURCES = frozenset({"spark", "tables", "landing", "step_launcher", PIPES_RUNNER})
TABLE_IO_MANAGER = "table_io_manager"
ROW_COUNT = "dagster/row_count"


def _preset(resources: Collection[str]) -> dict[str, Any]:
    return {"backfill_policy": BackfillPolicy.single_run(),
            "required_resource_keys": set(SPARK_STEP_RESOURCES) | set(resources)}


def _placed(body: Callable) -> Callable:
    """The step's body, run here or, when the deployment has a Pipes runner, on Databricks (its events replayed here)."""

    @functools.wraps(body)  # Dagster reads the inputs and config from the body's signature
    def step(context: AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        runner = getattr(context.resources, PIPES_RUNNER)
        if runner is not None:
            return runner.run_step(context)
        return body(context, *args, **kwargs)

    if inspect.isgeneratorfunction(body):  # Dagster ignores a generator's return annotation: so for its wrapper
        step.__annotations__ = {k: v for k, v in body.__annotations__.items() if k != "return"}
        step.__signature__ = inspect.signature(body).replace(return_annotation=inspect.Signature.empty)
    return step


def spark_asset(*, group: str, kinds: Collection[str] = ("delta",), resources: Collection[str] = (),
                through_io_manager: bool = False, **options: Any) -> Callable:
    """`@asset` for a Spark step; `through_io_manager`: the returned DataFrame is stored by the table IO manager."""
    if through_io_manager:
        options["io_manager_key"] = TABLE_IO_MANAGER
    decorate = asset(group_name=group, kinds={"spark", *kinds}, **_preset(resources), **options)
    return lambda body: decorate(_placed(body))


def spark_multi_asset(*, resources: Collection[str] = (), **options: Any) -> Callable:
    """`@multi_asset` for a Spark step that writes several tables (kinds and groups are on its specs)."""
    decorate = multi_asset(**_preset(resources), **options)
    return lambda body: decorate(_placed(body))


@dataclass(frozen=True)
class StepResources:
    """The resources of a Spark step, typed."""

    spark: SparkSessionResource
    tables: TableStoreResource
    landing: LandingZoneResource


def step_resources(context: AssetExecutionContext) -> StepResources:
    """The typed resources of the running step."""
    r = context.resources
    return StepResources(spark=r.spark, tables=r.tables, landing=r.landing)


def run_window_metadata(days: Sequence[date], rows: int) -> dict[str, MetadataValue]:
    """What a range run covered: first and last day, and its rows in all."""
    return {
        "run_first_day": MetadataValue.text(days[0].isoformat()),
        "run_last_day": MetadataValue.text(days[-1].isoformat()),
        "run_row_count": MetadataValue.int(rows),
    }


@dataclass(frozen=True)
class DaysRecord:
    """The metadata of a run over days: each day's (its partition's) and the run's as a whole."""

    per_day: dict[str, dict[str, MetadataValue]]
    run: dict[str, MetadataValue]


def days_record(days: Sequence[date], day_figures: Callable[[str], Mapping[str, MetadataValue]],
                store: Optional[TableStore] = None, commit: Optional[Commit] = None) -> DaysRecord:
    """Each day's figures (`dagster/row_count` among them) with the commit that wrote it, and the run's totals.

    Pure bookkeeping, no Dagster context: a step that writes tables from several threads builds its
    records there and reports them afterwards with `record_days`.
    """
    committed = day_commit_metadata(commit) if commit is not None else {}
    per_day = {day.isoformat(): {**day_figures(day.isoformat()), **committed} for day in days}
    rows = sum(figures[ROW_COUNT].value for figures in per_day.values())
    run = run_window_metadata(days, rows)
    if store is not None and commit is not None:
        run.update(commit_metadata(store, commit))
    return DaysRecord(per_day, run)


def record_days(context: AssetExecutionContext, record: DaysRecord, asset_key: Optional[str] = None) -> None:
    """Put each day's metadata on its own partition's materialization."""
    for key, metadata in record.per_day.items():
        context.add_asset_metadata(metadata, partition_key=key, **({"asset_key": asset_key} if asset_key else {}))
