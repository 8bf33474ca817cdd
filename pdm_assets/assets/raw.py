"""Raw assets: landing CSVs → typed, partitioned raw tables, with rejects kept and checked."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import AbstractSet, Any, Iterator, Optional, Sequence

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pyspark.sql import DataFrame

from pdm_assets.assets import raw_checks
from pdm_assets.assets.wiring import SPARK_STEP_RESOURCES, run_window_metadata, spark_step
from pdm_assets.names import RAW_MACHINES, RAW_MAINT_HISTORY
from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline.ingest import ParsedBatch, known_machine_ids, parse_files
from pdm_assets.pipeline.landing_files import LandingFile
from pdm_assets.pipeline.schemas import EVENT_DATASETS, MACHINES, MAINT, Dataset
from pdm_assets.resources.tables import commit_metadata, day_commit_metadata

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


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass
class Ingested:
    """What one dataset's ingestion stored and found, ready to be reported to Dagster."""

    table: str
    metadata: dict[str, Any]
    per_day: dict[str, dict[str, Any]] = field(default_factory=dict)  # partition key -> metadata
    checks: list[AssetCheckResult] = field(default_factory=list)


def ingest(
    res: Any,
    dataset: Dataset,
    table: str,
    files: Sequence[LandingFile],
    known_machines: Optional[AbstractSet[int]],
    days: Optional[list[date]],
    before_day: Optional[date] = None,
) -> Ingested:
    """Parse files, replace the table's days (or whole table), store the rejects, run the checks.

    No Dagster context is touched here, so datasets can be ingested from several threads at once.
    """
    batch: ParsedBatch = parse_files(res.spark.session, dataset, files, known_machines, _now(), before_day)
    try:
        store = res.tables.store()
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
            store.write_empty_days(res.spark.session, rejects, batch.rejects.schema, days, record_empty_days=False)
        metadata: dict[str, Any] = {
            **commit_metadata(store, commit),
            "rejects_table": MetadataValue.text(store.name(rejects)),
            "source_files": MetadataValue.int(len(files)),
        }
        per_day = {}
        if days is None:
            metadata["dagster/row_count"] = MetadataValue.int(valid_count)
            metadata["reject_count"] = MetadataValue.int(reject_count)
        else:
            metadata.update(run_window_metadata(days, valid_count))
            metadata["run_reject_count"] = MetadataValue.int(reject_count)
            per_day = {day.isoformat(): {"dagster/row_count": MetadataValue.int(valid_by_day.get(day.isoformat(), 0)),
                                         "reject_count": MetadataValue.int(rejects_by_day.get(day.isoformat(), 0)),
                                         **day_commit_metadata(commit)}
                       for day in days}  # each day's materialization carries its own figures
        if sample:
            rows = "\n".join(f"| {r['source_file']} | {r['line_number']} | {r['reason']} |" for r in sample)
            metadata["rejects_sample"] = MetadataValue.md("| file | line | reason |\n|---|---|---|\n" + rows)
        checks = list(raw_checks.results(res, dataset, table, days, valid_count, reject_count, known_machines))
        return Ingested(table, metadata, per_day, checks)
    finally:
        batch.release()


def report(context: AssetExecutionContext, ingested: Ingested) -> Iterator:
    """The materialization (with per-day figures) and the check results of one ingested table."""
    for key, metadata in ingested.per_day.items():
        context.add_asset_metadata(metadata, asset_key=ingested.table, partition_key=key)
    yield MaterializeResult(asset_key=ingested.table, metadata=ingested.metadata)
    yield from ingested.checks


def _raw_events_asset(partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    """The four daily event tables as one step: a new day's files are ingested concurrently.

    They share inputs (the landing day, raw_machines) and nothing else. Run side by side they finish
    sooner (20-40 % on 2 cores, where the work is mostly CPU), and one step means one Databricks run
    instead of four. Each table is written here, not by the IO manager at `yield`, so that the
    writes overlap too. Each stays its own asset (can be selected and
    materialized alone) with its own checks.
    """
    specs = [
        AssetSpec(d.table, description=f"Typed {d.name} rows per day from the landing zone; bad lines go to "
                                       f"{rejects_table(d.table)}.",
                  deps=[RAW_MACHINES], group_name="raw", kinds={"spark", "delta"}).with_io_manager_key(
            "table_io_manager")
        for d in EVENT_DATASETS
    ]

    @multi_asset(
        name="raw_events",
        specs=specs,
        check_specs=[c for d in EVENT_DATASETS for c in raw_checks.specs(d, d.table)],
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        ins={"raw_machines": AssetIn()},
        can_subset=True,
        required_resource_keys=SPARK_STEP_RESOURCES,
    )
    def raw_events(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        res = spark_step(context)
        selected = {key.path[-1] for key in context.selected_asset_keys}
        datasets = [d for d in EVENT_DATASETS if d.table in selected]
        # Every day file is looked up first: a missing one fails the step before anything is written.
        files = {d.table: res.landing.day_files(d.name, days) for d in datasets}
        known = known_machine_ids(raw_machines)
        with ThreadPoolExecutor(max_workers=len(datasets), thread_name_prefix="ingest") as pool:
            futures = [pool.submit(ingest, res, d, d.table, files[d.table], known, days) for d in datasets]
        failures = []
        for future in futures:  # report every table that was stored, then fail with the first error
            if future.exception() is not None:
                failures.append(future.exception())
            else:
                yield from report(context, future.result())
        if failures:
            raise failures[0]

    return raw_events


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
        kinds={"spark", "delta"},
    )
    def raw_machines(context: AssetExecutionContext) -> Iterator:
        res = spark_step(context)
        yield from report(context, ingest(res, MACHINES, MACHINES.table, [res.landing.machines_file()], None, None))

    return raw_machines


def _raw_maint_history(first_day: date) -> AssetsDefinition:
    table = RAW_MAINT_HISTORY

    @asset(
        name=table,
        description="Component replacements before the first partition day (maint/history.csv).",
        ins={"raw_machines": AssetIn()},
        io_manager_key="table_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        required_resource_keys=SPARK_STEP_RESOURCES,
        check_specs=raw_checks.specs(MAINT, table, dated=False),
        group_name="raw",
        kinds={"spark", "delta"},
    )
    def raw_maint_history(context: AssetExecutionContext, raw_machines: DataFrame) -> Iterator:
        history = spark_step(context).landing.history_file()
        if history is None:
            context.log.info("No maint/history.csv in the landing zone: the history is empty.")
            history = _empty_history_file(context)
        yield from report(context, ingest(spark_step(context), MAINT, table, [history], known_machine_ids(raw_machines),
                                          None, before_day=first_day))

    return raw_maint_history


def _empty_history_file(context: AssetExecutionContext) -> LandingFile:
    """A header-only history under the warehouse, so 'no history' is an empty table, not an error."""
    from pathlib import Path

    path = Path(spark_step(context).tables.warehouse) / "_inputs" / "empty_maint_history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(f'"{c}"' for c in MAINT.source_columns) + "\n")
    return LandingFile(str(path), None)
