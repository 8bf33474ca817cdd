"""failure_predictions: score days of features with the registered model, lineage in metadata and rows."""
from typing import Iterator

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field
from pyspark.sql import DataFrame

from pdm_assets.assets import scoring_checks
from pdm_assets.assets.wiring import ROW_COUNT, days_record, record_days, spark_asset, step_resources
from pdm_assets.names import CHALLENGER_PREDICTIONS, FAILURE_MODEL, FAILURE_PREDICTIONS, MACHINE_FEATURES
from pdm_assets.partitions import days_in_window, utc_now
from pdm_assets.pipeline.labels import LABEL_CLASSES
from pdm_assets.pipeline.quality import sum_over_days
from pdm_assets.pipeline.scoring import ModelLineage, score, scored_summary
from pdm_assets.resources.mlflow import MlflowResource

PRIORITY_TAG = "dagster/priority"  # read by Dagster's executors to order steps that are ready together


class ScoringConfig(Config):
    """Which model version scores (the reference job's `model`) and where rows go (its `results_table`)."""

    model_version: str = Field(default="", description="Pin a registered model version; empty: the champion alias.")
    results_table: str = Field(default=FAILURE_PREDICTIONS, description="Table the predictions are written to.")


def _score_days(context: AssetExecutionContext, machine_features: DataFrame, version, results_table: str,
                pinned: bool) -> tuple:
    """Score the run's days with a registered version into `results_table`; the materialization and what the checks need."""
    days = days_in_window(context.partition_time_window)
    step = step_resources(context)
    mlflow_res: MlflowResource = context.resources.mlflow
    lineage = ModelLineage(mlflow_res.model_name, str(version.version), version.run_id)
    if context.resources.scoring_model.preloaded(lineage):
        context.log.info(f"Version {lineage.version} was loaded in the background since the run started.")
    model = context.resources.scoring_model.model(lineage, step.spark.session)
    scored_at = utc_now()
    store = step.tables.store()
    # Scored and written in one job; the class mix per day and the probability check's figures
    # then come from one job over the stored rows, before the materialization is recorded.
    rule = mlflow_res.decision_rule(lineage.run_id)  # the alarm thresholds the model was trained with
    commit = store.write(score(model, machine_features, lineage, scored_at, rule), results_table, days)
    stored = store.read(step.spark.session, results_table, days, commit.version)
    by_day, probability_problems = scored_summary(stored)

    def day_figures(day: str) -> dict[str, MetadataValue]:  # each day says which model version scored it
        mix = by_day.get(day, {})
        return {ROW_COUNT: MetadataValue.int(sum(mix.values())),
                "model_version": MetadataValue.text(lineage.version), "model_run_id": MetadataValue.text(lineage.run_id),
                "predicted_failures": MetadataValue.json({c: mix.get(c, 0) for c in LABEL_CLASSES if c != "none"})}

    record = days_record(days, day_figures, store, commit)
    record_days(context, record)
    summed = sum_over_days(by_day)
    result = MaterializeResult(metadata={
        **record.run,
        "model_name": MetadataValue.text(lineage.name),
        "model_version": MetadataValue.text(lineage.version),
        "model_run_id": MetadataValue.text(lineage.run_id),
        "model_pinned": MetadataValue.bool(pinned),
        "decision_rule": MetadataValue.text(rule.describe()),
        "predicted_class_counts": MetadataValue.json({c: summed.get(c, 0) for c in LABEL_CLASSES}),
    })
    return result, stored, probability_problems, lineage


def build_scoring_assets(partitions: DailyPartitionsDefinition, challenger: str = "") -> list[AssetsDefinition]:
    """failure_predictions for one timeline, and challenger_predictions when a challenger is named."""

    @spark_asset(
        group="scoring", kinds=("delta", "mlflow"), resources=("mlflow", "scoring_model"),
        description="Per machine and grid point: the component predicted to fail under the model's alarm rule (or "
                    "none), the arg-max class, a probability per class, the rule, and the model version and run.",
        partitions_def=partitions,
        ins={MACHINE_FEATURES: AssetIn()},
        deps=[AssetDep(FAILURE_MODEL)],
        check_specs=scoring_checks.specs(),
        # When a run holds both, score before building labels: labels are not on the path from a
        # new day's arrival to its predictions (and a new day's labels wait for the next day anyway).
        op_tags={PRIORITY_TAG: "1"},
    )
    def failure_predictions(context: AssetExecutionContext, config: ScoringConfig,
                            machine_features: DataFrame) -> Iterator:
        mlflow_res: MlflowResource = context.resources.mlflow
        mlflow_res.activate()
        version = mlflow_res.resolve(config.model_version or None)
        result, stored, problems, lineage = _score_days(context, machine_features, version, config.results_table,
                                                        pinned=bool(config.model_version))
        yield result
        reference = mlflow_res.drift_reference(lineage.run_id)
        yield from scoring_checks.results(stored, machine_features, problems, reference)

    if not challenger:
        return [failure_predictions]

    @spark_asset(
        group="scoring", kinds=("delta", "mlflow"), resources=("mlflow", "scoring_model"),
        name=CHALLENGER_PREDICTIONS,
        description=f"Shadow scoring: the same days scored by the registered version '{challenger}' (PDM_CHALLENGER) "
                    "into its own table, so prediction_outcomes compares it with the champion on what happened. "
                    "Alerts come from failure_predictions only.",
        partitions_def=partitions,
        ins={MACHINE_FEATURES: AssetIn()},
        deps=[AssetDep(FAILURE_MODEL)],
    )
    def challenger_predictions(context: AssetExecutionContext, machine_features: DataFrame) -> Iterator:
        mlflow_res: MlflowResource = context.resources.mlflow
        mlflow_res.activate()
        result, _, _, _ = _score_days(context, machine_features, mlflow_res.resolve_reference(challenger),
                                      CHALLENGER_PREDICTIONS, pinned=True)
        yield result

    return [failure_predictions, challenger_predictions]
