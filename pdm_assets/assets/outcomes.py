"""prediction_outcomes: each day's predictions judged against what happened, once its labels are final."""
from datetime import timedelta
from typing import Iterator, Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)
from pyspark.sql import DataFrame

from pdm_assets.assets.wiring import SPARK_STEP_RESOURCES, run_window_metadata, spark_step
from pdm_assets.assets.training_report import HOLDOUT_METRIC
from pdm_assets.names import (
    CHECK_MODEL_DECAY, FAILURE_LABELS, FAILURE_PREDICTIONS, PREDICTION_OUTCOMES, RAW_FAILURES,
)
from pdm_assets.pipeline.decay import DecayRule, judge_decay, pooled_figures
from pdm_assets.partitions import days_in_window
from pdm_assets.pipeline.evaluation import failure_events
from pdm_assets.pipeline.events import episode_gap_hours
from pdm_assets.pipeline.features import FeatureParams
from pdm_assets.pipeline.labels import LabelParams
from pdm_assets.pipeline.outcomes import (
    OUTCOME_SCHEMA, DayOutcome, day_figures, day_outcomes, judged_version, pooled_week, versions_markdown, weekly_figure,
    weekly_from_records, weekly_markdown,
)
from pdm_assets.resources.tables import ALLOW_MISSING_DAYS, commit_metadata, day_commit_metadata


def _day_metadata(outcomes: list[DayOutcome]) -> dict[str, MetadataValue]:
    """Plain floats per day: the asset's Plots tab draws them over the days."""
    return {name: MetadataValue.float(v) if isinstance(v, float) else MetadataValue.text(v)
            for name, v in day_figures(outcomes).items()}


WEEKLY_FIGURE = "realized_weekly.png"


def _decay_check(mlflow, rows: list[dict], rule: DecayRule, version: str) -> AssetCheckResult:
    """The rule on the realized figures of the version that scored the newest judged day."""
    if not rows:
        return AssetCheckResult(check_name=CHECK_MODEL_DECAY, passed=True, description="No judged day yet.")
    reference, learned_through = mlflow.holdout_reference(version, HOLDOUT_METRIC[rule.metric])
    metadata = {"model_version": MetadataValue.text(version), "rule": MetadataValue.text(rule.describe()),
                "live_after": MetadataValue.text(learned_through.isoformat() if learned_through else "unknown")}
    if reference is None:
        return AssetCheckResult(check_name=CHECK_MODEL_DECAY, passed=True, metadata=metadata,
                                description=f"Version {version} has no holdout {rule.metric} in MLflow to compare with.")
    live = [r for r in rows if r["model_version"] == version and (learned_through is None or r["date"] > learned_through)]
    verdict = judge_decay(pooled_figures(live, rule.metric, rule.pool_days, rule.min_events), reference, rule)
    return AssetCheckResult(
        check_name=CHECK_MODEL_DECAY, passed=not verdict.decayed, severity=AssetCheckSeverity.WARN,
        description=verdict.describe(),
        metadata={**metadata, "holdout_figure": MetadataValue.float(reference),
                  "threshold": MetadataValue.float(verdict.threshold),
                  "days_below": MetadataValue.text(", ".join(d.isoformat() for d in verdict.below) or "none"),
                  "latest_figure": MetadataValue.float(verdict.figures[-1][1]) if verdict.figures else MetadataValue.text("n/a"),
                  "first_decayed_day": MetadataValue.text(verdict.first_decayed_day.isoformat()
                                                          if verdict.first_decayed_day else "never")})


def build_outcome_assets(partitions: DailyPartitionsDefinition, features: FeatureParams,
                         labels: LabelParams, decay: DecayRule = DecayRule(),
                         shadow_table: Optional[str] = None) -> list[AssetsDefinition]:
    """prediction_outcomes for one timeline, grid and label horizon, with the decay check; the shadow
    scoring's predictions (`shadow_table`, when a challenger is named) are judged beside the champion's."""
    horizon_days = max(1, -(-labels.horizon_hours // 24))
    gap_hours = episode_gap_hours(features.cadence_hours)
    missing_allowed = {ALLOW_MISSING_DAYS: True}

    def predictions_in() -> AssetIn:
        # the evening before may warn the morning's failures; tables written by their assets themselves
        return AssetIn(partition_mapping=TimeWindowPartitionMapping(
            start_offset=-horizon_days, end_offset=0, allow_nonexistent_upstream_partitions=True),
            metadata=missing_allowed, input_manager_key="table_io_manager")

    shadow_in = {shadow_table: predictions_in()} if shadow_table else {}

    @asset(
        description="Per day and model version, once the day's labels are final: row-level precision and recall per "
                    "class, macro F1, failures warned, lead, alarm episodes and false ones.",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        ins={
            FAILURE_PREDICTIONS: predictions_in(),
            **shadow_in,
            FAILURE_LABELS: AssetIn(),
            # the next day's failures judge the last alarms
            RAW_FAILURES: AssetIn(partition_mapping=TimeWindowPartitionMapping(
                start_offset=0, end_offset=horizon_days, allow_nonexistent_upstream_partitions=True),
                metadata=missing_allowed),
        },
        required_resource_keys=SPARK_STEP_RESOURCES | {"mlflow"},
        check_specs=[AssetCheckSpec(
            CHECK_MODEL_DECAY, asset=PREDICTION_OUTCOMES,
            description=f"Warns when the model decays on live data: {decay.describe()} (the version that scored the "
                        "newest judged day, against its own MLflow run). retraining_sensor acts on it.")],
        group_name="scoring",
        kinds={"spark", "delta"},
    )
    def prediction_outcomes(context: AssetExecutionContext, failure_predictions: DataFrame,
                            failure_labels: DataFrame, raw_failures: DataFrame, **shadow: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        res = spark_step(context)
        failures = failure_events(raw_failures, days[0], days[-1] + timedelta(days=1), labels.horizon_hours)
        predictions, shadow_versions = failure_predictions, frozenset()
        if shadow_table:  # a challenger that is the champion too is judged once
            columns = failure_predictions.columns
            predictions = failure_predictions.unionByName(shadow[shadow_table].select(*columns)) \
                .dropDuplicates(["machine_id", "timestamp", "model_version"])
            shadow_versions = frozenset(r[0] for r in shadow[shadow_table].select("model_version").distinct().collect())
        outcomes = day_outcomes(predictions, failure_labels, failures, days, labels.horizon_hours, gap_hours)
        store = res.tables.store()
        rows = res.spark.session.createDataFrame([o.record() for o in outcomes], OUTCOME_SCHEMA)
        commit = store.write(rows, PREDICTION_OUTCOMES, days)
        by_day: dict = {}
        for outcome in outcomes:
            by_day.setdefault(outcome.day, []).append(outcome)
        for day in days:
            judged = by_day.get(day, [])
            context.add_asset_metadata({
                "dagster/row_count": MetadataValue.int(len(judged)),
                "labels_final": MetadataValue.bool(bool(judged)),
                **_day_metadata(judged),
                **day_commit_metadata(commit),
            }, partition_key=day.isoformat())
        waiting = [d.isoformat() for d in days if d not in by_day]
        # the whole table is one row per judged day and version: the rule sees the days of earlier runs too
        judged = [r.asDict() for r in store.read(res.spark.session, PREDICTION_OUTCOMES, version=commit.version).collect()]
        champion = judged_version(judged, shadow_versions) if judged else None
        mine = [o for o in outcomes if o.model_version == champion]
        yield MaterializeResult(metadata={
            **run_window_metadata(days, len(outcomes)),
            "days_judged": MetadataValue.int(len(by_day)),
            "days_waiting_for_final_labels": MetadataValue.text(", ".join(waiting[-10:]) or "none"),
            "weekly_realized_quality": MetadataValue.md(weekly_markdown(mine)),
            "last_7_judged_days": MetadataValue.json(pooled_week(mine, max(o.day for o in mine)) if mine else {}),
            **({"versions_compared": MetadataValue.md(versions_markdown(outcomes))} if shadow_table else {}),
            **commit_metadata(store, commit),
        })
        if champion is not None:  # the weekly picture goes where the model's own figures are: its MLflow run
            weeks = weekly_from_records([r for r in judged if r["model_version"] == champion])
            context.resources.mlflow.log_figure_to_version(
                champion, weekly_figure(weeks, f"{context.resources.mlflow.model_name} v{champion}: realized per week"),
                WEEKLY_FIGURE)
        yield _decay_check(context.resources.mlflow, judged, decay, champion)

    return [prediction_outcomes]
