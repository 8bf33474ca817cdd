"""Raw assets: landing CSVs → typed, partitioned raw tables, with rejects kept and checked."""

from datetime import date, datetime, timezone
from typing import Iterator, Optional, Sequence

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MetadataValue,
    Output,
    asset,
)
from pyspark.sql import DataFrame

from pdm_assets.assets import raw_checks
from pdm_assets.assets.resources_view import SPARK_STEP_RESOURCES, run_window_metadata, spark_step
from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline.ingest import ParsedBatch, parse_files
from pdm_assets.pipeline.landing_files import LandingFile
from pdm_assets.pipeline.schemas import EVENT_DATASETS, MACHINES, MAINT, Dataset

REJECTS_SAMPLE = 5


def rejects_table(dataset_table: str) -> str:
    """The table that keeps a raw table's rejected lines."""
    return f"{dataset_table}_rejects"


def build_raw_assets(partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    """All raw assets for one timeline."""
    first_day = partitions.start.date()
    return [
        _raw_machines(),
        _raw_maint_history(first_day),
        *(_raw_event_asset(d, partitions) for d in EVENT_DATASETS),
    ]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _ingest(
    context: AssetExecutionContext,
    dataset: Dataset,
    table: str,
    files: Sequence[LandingFile],
    known_machines: Optional[DataFrame],
    days: Optional[list[date]],
    before_day: Optional[date] = None,
) -> Iterator:
    """Parse files, store rejects, yield the valid rows as the output, then the checks."""
    res = spark_step(context)
    batch: ParsedBatch = parse_files(res.spark.session, dataset, files, known_machines, _now(), before_day)
    try:
        valid_by_day, rejects_by_day = batch.counts_by_day()  # one Spark job for both
        valid_count, reject_count = sum(valid_by_day.values()), sum(rejects_by_day.values())
        sample = (batch.rejects.select("source_file", "line_number", "reason").limit(REJECTS_SAMPLE).collect()
                  if reject_count else [])
        metadata = {
            "rejects_table": MetadataValue.path(res.tables.table_path(rejects_table(table))),
            "source_files": MetadataValue.int(len(files)),
        }
        if days is None:
            metadata["dagster/row_count"] = MetadataValue.int(valid_count)
            metadata["reject_count"] = MetadataValue.int(reject_count)
        else:
            metadata.update(run_window_metadata(days, valid_count))
            metadata["run_reject_count"] = MetadataValue.int(reject_count)
            for day in days:  # each day's materialization carries its own figures
                key = day.isoformat()
                context.add_asset_metadata(
                    {"dagster/row_count": MetadataValue.int(valid_by_day.get(key, 0)),
                     "reject_count": MetadataValue.int(rejects_by_day.get(key, 0))},
                    partition_key=key,
                )
        if sample:
            rows = "\n".join(f"| {r['source_file']} | {r['line_number']} | {r['reason']} |" for r in sample)
            metadata["rejects_sample"] = MetadataValue.md("| file | line | reason |\n|---|---|---|\n" + rows)
        yield Output(batch.valid, metadata=metadata)
        # Rejects are stored after the rows: a failed output write leaves both tables as they were.
        store = res.tables.store()
        if days is None:
            store.write(batch.rejects.drop("date"), rejects_table(table))
        elif reject_count:
            store.write(batch.rejects, rejects_table(table), days)
        else:  # the usual case: empty days, no Spark job
            store.write_empty_days(rejects_table(table), batch.rejects.schema, days)
        yield from raw_checks.results(res, dataset, table, days, valid_count, reject_count)
    finally:
        batch.release()


def _raw_event_asset(dataset: Dataset, partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    @asset(
        name=dataset.table,
        description=f"Typed {dataset.name} rows per day from the landing zone; bad lines go to {rejects_table(dataset.table)}.",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        ins={"raw_machines": AssetIn()},
        io_manager_key="table_io_manager",
        required_resource_keys=SPARK_STEP_RESOURCES,
        check_specs=raw_checks.specs(dataset, dataset.table),
        group_name="raw",
        kinds={"spark", "parquet"},
    )
    def _asset(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        files = spark_step(context).landing.day_files(dataset.name, days)
        yield from _ingest(context, dataset, dataset.table, files, raw_machines, days)

    return _asset


def _raw_machines() -> AssetsDefinition:
    @asset(
        name=MACHINES.table,
        description="The machine register (model, age) from machines/machines.csv.",
        io_manager_key="table_io_manager",
        # Unpartitioned, but single-run too: `--partition-range` requires it of every selected asset.
        backfill_policy=BackfillPolicy.single_run(),
        required_resource_keys=SPARK_STEP_RESOURCES,
        check_specs=raw_checks.specs(MACHINES, MACHINES.table),
        group_name="raw",
        kinds={"spark", "parquet"},
    )
    def raw_machines(context: AssetExecutionContext) -> Iterator:
        files = [spark_step(context).landing.machines_file()]
        yield from _ingest(context, MACHINES, MACHINES.table, files, None, None)

    return raw_machines


def _raw_maint_history(first_day: date) -> AssetsDefinition:
    table = "raw_maint_history"

    @asset(
        name=table,
        description="Component replacements before the first partition day (maint/history.csv).",
        ins={"raw_machines": AssetIn()},
        io_manager_key="table_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        required_resource_keys=SPARK_STEP_RESOURCES,
        check_specs=raw_checks.specs(MAINT, table, dated=False),
        group_name="raw",
        kinds={"spark", "parquet"},
    )
    def raw_maint_history(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        history = spark_step(context).landing.history_file()
        if history is None:
            context.log.info("No maint/history.csv in the landing zone: the history is empty.")
            history = _empty_history_file(context)
        yield from _ingest(context, MAINT, table, [history], raw_machines, None, before_day=first_day)

    return raw_maint_history


def _empty_history_file(context: AssetExecutionContext) -> LandingFile:
    """A header-only history under the warehouse, so 'no history' is an empty table, not an error."""
    from pathlib import Path

    path = Path(spark_step(context).tables.warehouse) / "_inputs" / "empty_maint_history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(f'"{c}"' for c in MAINT.source_columns) + "\n")
    return LandingFile(str(path), None)
