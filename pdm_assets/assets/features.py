"""Feature and label assets: thin wiring of pipeline.features / pipeline.labels onto partitions."""
import math
from datetime import datetime, time, timedelta

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    Output,
    TimeWindowPartitionMapping,
)
from pyspark.sql import DataFrame

from pdm_assets.assets import feature_checks
from pdm_assets.assets.wiring import ROW_COUNT, days_record, record_days, spark_asset, step_resources
from pdm_assets.names import (
    MACHINE_FEATURES, RAW_ERRORS, RAW_FAILURES, RAW_MACHINES, RAW_MAINT, RAW_MAINT_HISTORY, RAW_TELEMETRY,
)
from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline import quality
from pdm_assets.pipeline.text import first_few
from pdm_assets.pipeline.features import FeatureParams, build_features, feature_columns, maintenance_with_history
from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams, build_labels, mark_final
from pdm_assets.pipeline.quality import sum_over_days
from pdm_assets.resources.tables import (
    ALLOW_MISSING_DAYS, MissingUpstreamDaysError,
)

# "Every earlier day": a start offset far beyond any timeline. Dagster clips it to the first
# partition, so the UI shows the true dependency (a day's component ages depend on all earlier
# maintenance) and a range run loads exactly the days up to its end.
FULL_HISTORY_DAYS = 100 * 366


def _days_covering(hours: int) -> int:
    return max(1, math.ceil(hours / 24))


def build_feature_assets(
    partitions: DailyPartitionsDefinition, features: FeatureParams, labels: LabelParams
) -> list[AssetsDefinition]:
    """machine_features and failure_labels for one timeline and one set of parameters."""
    if features.cadence_hours != labels.cadence_hours:
        raise ValueError(f"features and labels need the same grid: {features.cadence_hours} h vs {labels.cadence_hours} h")
    return [_machine_features(partitions, features), _failure_labels(partitions, labels)]


def _window(context: AssetExecutionContext) -> tuple[list, datetime, datetime]:
    days = days_in_window(context.partition_time_window)
    return days, datetime.combine(days[0], time()), datetime.combine(days[-1] + timedelta(days=1), time())


def _machine_features(partitions: DailyPartitionsDefinition, params: FeatureParams) -> AssetsDefinition:
    lookback = TimeWindowPartitionMapping(
        start_offset=-_days_covering(params.long_window_hours), end_offset=0, allow_nonexistent_upstream_partitions=True
    )
    history = TimeWindowPartitionMapping(
        start_offset=-FULL_HISTORY_DAYS, end_offset=0, allow_nonexistent_upstream_partitions=True
    )

    @spark_asset(
        group="features",
        description=(f"Per machine every {params.cadence_hours} h: signal mean/std over {params.short_window_hours} h "
                     f"and {params.long_window_hours} h, error counts, days since the latest replacement, model, age."),
        partitions_def=partitions,
        ins={
            RAW_TELEMETRY: AssetIn(partition_mapping=lookback),
            RAW_ERRORS: AssetIn(partition_mapping=lookback),
            RAW_MAINT: AssetIn(partition_mapping=history),
            RAW_MAINT_HISTORY: AssetIn(),
            RAW_MACHINES: AssetIn(),
        },
        through_io_manager=True,  # downstream steps read it through the IO manager; the rows are written here
        check_specs=feature_checks.feature_specs(),
    )
    def machine_features(
        context: AssetExecutionContext,
        raw_telemetry: DataFrame,
        raw_errors: DataFrame,
        raw_maint: DataFrame,
        raw_maint_history: DataFrame,
        raw_machines: DataFrame,
    ):
        days, start, end = _window(context)
        step = step_resources(context)
        maint, history_start = maintenance_with_history(
            raw_maint, raw_maint_history, partitions.start.replace(tzinfo=None))
        features = build_features(raw_telemetry, raw_errors, maint, raw_machines, start, end, params,
                                  history_start=history_start)
        # Written here, in the job that computes the rows; the figures of the metadata and of both
        # checks then come from one job over what was stored (each Spark job spared counts on a new day).
        store = step.tables.store()
        commit = store.write(features, MACHINE_FEATURES, days)
        per_day, machines = quality.feature_profile(
            store.read(step.spark.session, MACHINE_FEATURES, days, commit.version), raw_machines,
            feature_columns(params))
        record = days_record(days, lambda d: {ROW_COUNT: MetadataValue.int(per_day.get(d, {}).get("_rows", 0))},
                             store, commit)
        record_days(context, record)
        yield MaterializeResult(metadata={
            **record.run,
            "machines": MetadataValue.int(machines),
            "cadence_hours": MetadataValue.int(params.cadence_hours),
            "windows_hours": MetadataValue.text(f"{params.short_window_hours}, {params.long_window_hours}"),
            "history_start": MetadataValue.text(history_start.date().isoformat()),
        })
        yield from feature_checks.feature_results(per_day, machines, days, params)

    return machine_features


def _failure_labels(partitions: DailyPartitionsDefinition, params: LabelParams) -> AssetsDefinition:
    lookahead_days = _days_covering(params.horizon_hours)
    lookahead = TimeWindowPartitionMapping(
        start_offset=0, end_offset=lookahead_days, allow_nonexistent_upstream_partitions=True
    )

    @spark_asset(
        group="features", through_io_manager=True,
        description=(f"Per machine every {params.cadence_hours} h: the component failing within the next "
                     f"{params.horizon_hours} h (earliest if several), else none; `final` once every day the "
                     f"horizon reaches ({lookahead_days} day(s) ahead) has had its failures ingested."),
        partitions_def=partitions,
        ins={
            RAW_FAILURES: AssetIn(partition_mapping=lookahead, metadata={ALLOW_MISSING_DAYS: True}),
            RAW_MACHINES: AssetIn(),
        },
        # Ordered after the features so its check can verify every label has a feature row.
        deps=[AssetDep(MACHINE_FEATURES)],
        check_specs=feature_checks.label_specs(),
    )
    def failure_labels(context: AssetExecutionContext, raw_failures: DataFrame, raw_machines: DataFrame):
        days, start, end = _window(context)
        step = step_resources(context)
        arrived = set(step.tables.store().existing_days(RAW_FAILURES, step.spark.session))
        own = [d.isoformat() for d in days if d not in arrived]
        if own:  # without the day's own failures every label would be a silent "none"
            raise MissingUpstreamDaysError(
                f"raw_failures has no data for {first_few(own)}, the days these labels are for; materialize "
                "raw_failures for those days first (a day with no failures still has to be ingested).")
        labels = mark_final(build_labels(raw_failures, raw_machines, start, end, params), arrived, days,
                            params.horizon_hours).persist()
        try:
            cells, provisional = quality.label_profile(labels)  # one job: rows per day and class, rows not final
            classes = sum_over_days(cells)
            record = days_record(days, lambda d: {ROW_COUNT: MetadataValue.int(sum(cells.get(d, {}).values()))})
            record_days(context, record)  # the IO manager adds the table and its version at the yield
            not_final = sorted(d for d, n in provisional.items() if n)
            yield Output(labels, metadata={
                **record.run,
                "horizon_hours": MetadataValue.int(params.horizon_hours),
                "machines": MetadataValue.int(raw_machines.count()),
                "label_counts": MetadataValue.json({c: classes.get(c, 0) for c in LABEL_CLASSES}),
                "days_not_final": MetadataValue.text(", ".join(not_final) or "none"),
            })
            yield from feature_checks.label_results(step, days, classes, not_final, sum(provisional.values()))
        finally:
            labels.unpersist()

    return failure_labels
