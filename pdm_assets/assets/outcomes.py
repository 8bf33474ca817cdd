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
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
)
from pyspark.sql import DataFrame

from pdm_assets.assets.wiring import (
    ROW_COUNT, TABLE_IO_MANAGER, days_record, record_days, spark_asset, step_resources,
)
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
from pdm_assets.resources.tables import ALLOW_MISSING_DAYS


def _day_metadata(outcomes: list[DayOutcome]) -> dict[str, MetadataValue]:
    """A day's versions judged, whether its labels were final, and plain floats the asset's Plots tab draws."""
    return {ROW_COUNT: MetadataValue.int(len(outcomes)), "labels_final": MetadataValue.bool(bool(outcomes)),
            **{name: MetadataValue.float(v) if isinstance(v, float) else MetadataValue.text(v)
               for name, v in day_figures(outcomes).items()}}


WEEKLY_FIGURE = "realized_weekly.png"


def _with_shadow(predictions: DataFrame, shadow: Optional[DataFrame]) -> tuple[DataFrame, frozenset[str]]:
    """The champion's predictions with the challenger's beside them, and the versions that are the challenger's.

    A challenger that is the champion too is judged once.
    """
    if shadow is None:
        return predictions, frozenset()
    both = predictions.unionByName(shadow.select(*predictions.columns)) \
        .dropDuplicates(["machine_id", "timestamp", "model_version"])
    return both, frozenset(r[0] for r in shadow.select("model_version").distinct().collect())


def _log_weekly_figure(mlflow, rows: list[dict], version: str) -> None:
    """The realized quality per week of a version, as a figure in its MLflow run."""
    figure = weekly_figure(weekly_from_records(rows), f"{mlflow.model_name} v{version}: realized per week")
    mlflow.log_figure_to_version(version, figure, WEEKLY_FIGURE)


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
            metadata=missing_allowed, input_manager_key=TABLE_IO_MANAGER)

    shadow_in = {shadow_table: predictions_in()} if shadow_table else {}

    @spark_asset(
        group="scoring", resources=("mlflow",),
        description="Per day and model version, once the day's labels are final: row-level precision and recall per "
                    "class, macro F1, failures warned, lead, alarm episodes and false ones.",
        partitions_def=partitions,
        ins={
            FAILURE_PREDICTIONS: predictions_in(),
            **shadow_in,
            FAILURE_LABELS: AssetIn(),
            # the next day's failures judge the last alarms
            RAW_FAILURES: AssetIn(partition_mapping=TimeWindowPartitionMapping(
                start_offset=0, end_offset=horizon_days, allow_nonexistent_upstream_partitions=True),
                metadata=missing_allowed),
        },
        check_specs=[AssetCheckSpec(
            CHECK_MODEL_DECAY, asset=PREDICTION_OUTCOMES,
            description=f"Warns when the model decays on live data: {decay.describe()} (the version that scored the "
                        "newest judged day, against its own MLflow run). retraining_sensor acts on it.")],
    )
    def prediction_outcomes(context: AssetExecutionContext, failure_predictions: DataFrame,
                            failure_labels: DataFrame, raw_failures: DataFrame, **shadow: DataFrame) -> Iterator:
        days = days_in_window(context.partition_time_window)
        step, mlflow = step_resources(context), context.resources.mlflow
        failures = failure_events(raw_failures, days[0], days[-1] + timedelta(days=1), labels.horizon_hours)
        predictions, shadow_versions = _with_shadow(failure_predictions, shadow.get(shadow_table))
        outcomes = day_outcomes(predictions, failure_labels, failures, days, labels.horizon_hours, gap_hours)
        store = step.tables.store()
        commit = store.write(step.spark.session.createDataFrame([o.record() for o in outcomes], OUTCOME_SCHEMA),
                             PREDICTION_OUTCOMES, days)
        by_day: dict[str, list[DayOutcome]] = {}
        for outcome in outcomes:
            by_day.setdefault(outcome.day.isoformat(), []).append(outcome)
        record = days_record(days, lambda d: _day_metadata(by_day.get(d, [])), store, commit)
        record_days(context, record)
        waiting = [d.isoformat() for d in days if d.isoformat() not in by_day]
        # the whole table is one row per judged day and version: the rule sees the days of earlier runs too
        judged = [r.asDict() for r in store.read(step.spark.session, PREDICTION_OUTCOMES, version=commit.version).collect()]
        champion = judged_version(judged, shadow_versions) if judged else None
        mine = [o for o in outcomes if o.model_version == champion]
        yield MaterializeResult(metadata={
            **record.run,
            "days_judged": MetadataValue.int(len(by_day)),
            "days_waiting_for_final_labels": MetadataValue.text(", ".join(waiting[-10:]) or "none"),
            "weekly_realized_quality": MetadataValue.md(weekly_markdown(mine)),
            "last_7_judged_days": MetadataValue.json(pooled_week(mine, max(o.day for o in mine)) if mine else {}),
            **({"versions_compared": MetadataValue.md(versions_markdown(outcomes))} if shadow_table else {}),
        })
        if champion is not None:  # the weekly picture goes where the model's own figures are: its MLflow run
            _log_weekly_figure(mlflow, [r for r in judged if r["model_version"] == champion], champion)
        yield _decay_check(context.resources.mlflow, judged, decay, champion)

    return [prediction_outcomes]
