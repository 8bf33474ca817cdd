"""Raw assets: landing CSVs → typed, partitioned raw tables, with rejects kept and checked."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import AbstractSet, Any, Iterator, Optional, Sequence

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
)
from pyspark.sql import DataFrame

from pdm_assets.assets import raw_checks
from pdm_assets.assets.wiring import (
    ROW_COUNT, TABLE_IO_MANAGER, DaysRecord, StepResources, days_record, record_days, spark_asset, spark_multi_asset,
    step_resources,
)
from pdm_assets.names import RAW_MACHINES, RAW_MAINT_HISTORY
from pdm_assets.partitions import days_in_window, utc_now
from pdm_assets.pipeline.ingest import ParsedBatch, known_machine_ids, parse_files
from pdm_assets.pipeline.landing_files import LandingFile
from pdm_assets.pipeline.schemas import EVENT_DATASETS, MACHINES, MAINT, Dataset
from pdm_assets.resources.tables import commit_metadata

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
        _raw_events_asset(partitions),
    ]


@dataclass
class IngestOutcome:
    """What one dataset's ingestion stored and found, ready to be reported to Dagster."""

    table: str
    metadata: dict[str, Any]
    per_day: DaysRecord | None = None  # None for a whole (unpartitioned) table
    checks: list[AssetCheckResult] = field(default_factory=list)


def ingest_dataset(
    step: StepResources,
    dataset: Dataset,
    table: str,
    files: Sequence[LandingFile],
    known_machines: Optional[AbstractSet[int]],
    days: Optional[list[date]],
    before_day: Optional[date] = None,
) -> IngestOutcome:
    """Parse files, replace the table's days (or whole table), store the rejects, run the checks.

    No Dagster context is touched here, so datasets can be ingested from several threads at once.
    """
    batch: ParsedBatch = parse_files(step.spark.session, dataset, files, known_machines, utc_now(), before_day)
    try:
        store = step.tables.store()
        # Counted on the cached parse before the write: an observation riding on the write sees no
        # metrics once Delta's write command runs the query (it reports none back to Python).
        valid_by_day, rejects_by_day = batch.counts_by_day()  # one Spark job for both
        valid_count, reject_count = sum(valid_by_day.values()), sum(rejects_by_day.values())
        commit = store.write(batch.valid, table, days)
        sample = (batch.rejects.select("source_file", "line_number", "reason").limit(REJECTS_SAMPLE).collect()
                  if reject_count else [])
        # Rejects are stored after the rows: a failed row write leaves both tables as they were.
        rejects = rejects_table(table)
        if days is None:
            store.write(batch.rejects.drop("date"), rejects)
        elif reject_count:
            store.write(batch.rejects, rejects, days, record_empty_days=False)
        else:  # the usual case: no commit unless earlier rejects of these days must go
            store.write_empty_days(step.spark.session, rejects, batch.rejects.schema, days, record_empty_days=False)
        metadata: dict[str, Any] = {
            **commit_metadata(store, commit),
            "rejects_table": MetadataValue.text(store.name(rejects)),
            "source_files": MetadataValue.int(len(files)),
        }
        record = None
        if days is None:
            metadata[ROW_COUNT] = MetadataValue.int(valid_count)
            metadata["reject_count"] = MetadataValue.int(reject_count)
        else:  # each day's materialization carries its own figures
            record = days_record(days, lambda d: {ROW_COUNT: MetadataValue.int(valid_by_day.get(d, 0)),
                                                  "reject_count": MetadataValue.int(rejects_by_day.get(d, 0))},
                                 commit=commit)  # the table and its version are in `metadata` already
            metadata.update(record.run)
            metadata["run_reject_count"] = MetadataValue.int(reject_count)
        if sample:
            rows = "\n".join(f"| {r['source_file']} | {r['line_number']} | {r['reason']} |" for r in sample)
            metadata["rejects_sample"] = MetadataValue.md("| file | line | reason |\n|---|---|---|\n" + rows)
        checks = list(raw_checks.results(step, dataset, table, days, valid_count, reject_count, known_machines))
        return IngestOutcome(table, metadata, record, checks)
    finally:
        batch.release()


def report_ingest(context: AssetExecutionContext, outcome: IngestOutcome) -> Iterator:
    """The materialization (with per-day figures) and the check results of one ingested table."""
    if outcome.per_day is not None:
        record_days(context, outcome.per_day, asset_key=outcome.table)
    yield MaterializeResult(asset_key=outcome.table, metadata=outcome.metadata)
    yield from outcome.checks


def _raw_events_asset(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The four daily event tables as one step: a new day's files are ingested concurrently.

    They share inputs (the landing day, raw_machines) and nothing else. Side by side they finish
    sooner, and one step means one Databricks run instead of four. Each table is written here, not
    by the IO manager at `yield`, so that the writes overlap too. Each stays its own asset (it can
    be selected and materialized alone) with its own checks.
    """
    specs = [
        AssetSpec(d.table, description=f"Typed {d.name} rows per day from the landing zone; bad lines go to "
                                       f"{rejects_table(d.table)}.",
                  deps=[RAW_MACHINES], group_name="raw", kinds={"spark", "delta"}).with_io_manager_key(
            TABLE_IO_MANAGER)
        for d in EVENT_DATASETS
    ]

    @spark_multi_asset(
        name="raw_events",
        specs=specs,
        check_specs=[c for d in EVENT_DATASETS for c in raw_checks.specs(d, d.table)],
        partitions_def=partitions,
        ins={RAW_MACHINES: AssetIn()},
        can_subset=True,
    )
    def raw_events(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        step = step_resources(context)
        selected = {key.path[-1] for key in context.selected_asset_keys}
        datasets = [d for d in EVENT_DATASETS if d.table in selected]
        # Every day file is looked up first: a missing one fails the step before anything is written.
        files = {d.table: step.landing.day_files(d.name, days) for d in datasets}
        known = known_machine_ids(raw_machines)
        with ThreadPoolExecutor(max_workers=len(datasets), thread_name_prefix="ingest") as pool:
            futures = [pool.submit(ingest_dataset, step, d, d.table, files[d.table], known, days) for d in datasets]
        failures = []
        for future in futures:  # report every table that was stored, then fail with the first error
            if future.exception() is not None:
                failures.append(future.exception())
            else:
                yield from report_ingest(context, future.result())
        if failures:
            raise failures[0]

    return raw_events


def _raw_machines() -> AssetsDefinition:
    # Unpartitioned, but single-run too (the preset): `--partition-range` requires it of every selected asset.
    @spark_asset(
        group="raw", through_io_manager=True,
        name=MACHINES.table,
        description="The machine register (model, age) from machines/machines.csv.",
        check_specs=raw_checks.specs(MACHINES, MACHINES.table),
    )
    def raw_machines(context: AssetExecutionContext) -> Iterator:
        step = step_resources(context)
        yield from report_ingest(context, ingest_dataset(step, MACHINES, MACHINES.table, [step.landing.machines_file()],
                                                         None, None))

    return raw_machines


def _raw_maint_history(first_day: date) -> AssetsDefinition:
    table = RAW_MAINT_HISTORY

    @spark_asset(
        group="raw", through_io_manager=True,
        name=table,
        description="Component replacements before the first partition day (maint/history.csv).",
        ins={RAW_MACHINES: AssetIn()},
        check_specs=raw_checks.specs(MAINT, table, dated=False),
    )
    def raw_maint_history(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        step = step_resources(context)
        history = step.landing.history_file()
        if history is None:
            context.log.info("No maint/history.csv in the landing zone: the history is empty.")
            history = _empty_history_file(step)
        yield from report_ingest(context, ingest_dataset(step, MAINT, table, [history], known_machine_ids(raw_machines),
                                                         None, before_day=first_day))

    return raw_maint_history


def _empty_history_file(step: StepResources) -> LandingFile:
    """A header-only history under the warehouse, so 'no history' is an empty table, not an error."""
    from pathlib import Path

    path = Path(step.tables.warehouse) / "_inputs" / "empty_maint_history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(f'"{c}"' for c in MAINT.source_columns) + "\n")
    return LandingFile(str(path), None)
