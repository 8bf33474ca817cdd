"""Training assets: the rolling, time-split training set, and the MLlib model tracked and gated in MLflow."""
import json
from datetime import date
from typing import Iterator, Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    Output,
)
from pydantic import Field
from pyspark.sql import DataFrame

from pdm_assets.assets.wiring import spark_asset, step_resources
from pdm_assets.assets.training_report import gate_metadata, model_metadata, run_metrics
from pdm_assets.names import CHECK_QUALITY_GATE, FAILURE_LABELS, FAILURE_MODEL, MACHINE_FEATURES, RAW_FAILURES
from pdm_assets.pipeline.decision import curve_figure
from pdm_assets.pipeline.drift import drift_reference
from pdm_assets.pipeline.features import CATEGORICAL_FEATURES, FeatureParams, feature_columns
from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams
from pdm_assets.pipeline.lifecycle import Outcome, train_and_judge
from pdm_assets.pipeline.model import PREDICTED, GateFloors, ModelConfig, feature_importances
from pdm_assets.pipeline.training import (
    HOLDOUT, TRAIN, TUNE, TrainingParams, build_training_set, class_counts, describe_spans, final_days, rolling_window,
)
from pdm_assets.resources.mlflow import CHAMPION, DECISION_RULE_FILE, DRIFT_REFERENCE_FILE
from pdm_assets.resources.tables import ALLOW_MISSING_DAYS
from pdm_assets.resources.mlflow import log_training



def _day(text: str) -> Optional[date]:
    return date.fromisoformat(text) if text else None


def build_training_assets(features: FeatureParams, labels: LabelParams,
                          params: TrainingParams = TrainingParams()) -> list[AssetsDefinition]:
    """training_set and failure_model for one feature/label parameter set and the training settings."""
    columns = feature_columns(features)

    class TrainingSetConfig(Config):
        """The window: the last months of final labels by default, or explicit days (YYYY-MM-DD)."""

        train_months: int = params.train_months
        holdout_months: int = params.holdout_months
        tuning_share: float = Field(default=params.tuning_share,
                                    description="Share of the training months kept to choose the alarm thresholds.")
        train_start: str = Field(default="", description="First training day; empty: holdout_start - train_months.")
        holdout_start: str = Field(default="", description="First holdout day; empty: the newest final day's end "
                                                           "- holdout_months.")
        holdout_end: str = Field(default="", description="Day after the holdout; empty: after the newest final day.")

    class ModelTrainingConfig(Config):
        """Classifier, hyperparameters, the alarm rule's target and the quality gate."""

        classifier: str = Field(default="random_forest",
                                description="random_forest | decision_tree | gbt_one_vs_rest | logistic_regression")
        hyperparameters: str = Field(default="{}", description='MLlib parameters as JSON, e.g. {"numTrees": 200}')
        class_weighting: str = Field(default="sqrt_balanced", description="balanced | sqrt_balanced | none")
        seed: int = 42
        target_alarm_precision: float = Field(
            default=params.target_alarm_precision,
            description="Alarm thresholds: per component the lowest whose episodes reach this precision on the "
                        "tuning period.")
        min_macro_f1: float = Field(default=GateFloors.macro_f1, description="Gate floor: holdout macro F1.")
        min_event_recall: float = Field(default=GateFloors.event_recall,
                                        description="Gate floor: share of holdout failures warned within the horizon.")
        min_alarm_precision: float = Field(default=GateFloors.alarm_precision,
                                           description="Gate floor: share of holdout alarm episodes followed by a failure.")
        champion_tolerance: float = Field(
            default=GateFloors.champion_tolerance,
            description="Gate: macro F1 no worse than the champion's on the same rows minus this.")
        compare_with_champion: bool = Field(default=True, description="False: only the floors decide (said so).")

        def to_model_config(self) -> ModelConfig:
            try:
                hyper = json.loads(self.hyperparameters or "{}")
            except json.JSONDecodeError as err:
                raise ValueError(f"hyperparameters must be a JSON object: {err}") from err
            if not isinstance(hyper, dict):
                raise ValueError(f"hyperparameters must be a JSON object, got {self.hyperparameters!r}")
            return ModelConfig(self.classifier, hyper, self.class_weighting, self.seed)

        def floors(self) -> GateFloors:
            return GateFloors(self.min_macro_f1, self.min_event_recall, self.min_alarm_precision,
                              self.champion_tolerance)

    @spark_asset(
        group="training", through_io_manager=True,
        description="Feature rows with their final label, split by time into train, tune and holdout periods that "
                    "end at the newest final day (no random split).",
        ins={"machine_features": AssetIn(metadata={ALLOW_MISSING_DAYS: True}),
             FAILURE_LABELS: AssetIn(metadata={ALLOW_MISSING_DAYS: True})},
    )
    def training_set(context: AssetExecutionContext, config: TrainingSetConfig,
                     machine_features: DataFrame, failure_labels: DataFrame) -> Iterator[Output]:
        step = step_resources(context)
        featured = set(step.tables.store().existing_days(MACHINE_FEATURES, step.spark.session))
        final = [d for d in final_days(failure_labels) if d in featured]
        window = rolling_window(final, config.train_months, config.holdout_months, config.tuning_share,
                                _day(config.train_start), _day(config.holdout_start), _day(config.holdout_end))
        rows = build_training_set(machine_features, failure_labels, window, labels.horizon_hours).persist()
        counts = class_counts(rows)
        yield Output(rows, metadata={
            "window": MetadataValue.text(window.describe()),
            "train_start": MetadataValue.text(window.train_start.isoformat()),
            "tuning_start": MetadataValue.text(window.tuning_start.isoformat() if window.tuning_start else "none"),
            "holdout_start": MetadataValue.text(window.holdout_start.isoformat()),
            "holdout_end": MetadataValue.text(window.holdout_end.isoformat()),
            "newest_final_day": MetadataValue.text(max(final).isoformat()),
            "purge_gap_hours": MetadataValue.int(labels.horizon_hours),
            "dagster/row_count": MetadataValue.int(sum(sum(c.values()) for c in counts.values())),
            **{f"{split}_label_counts": MetadataValue.json(counts[split]) for split in (TRAIN, TUNE, HOLDOUT)},
        })
        rows.unpersist()

    @spark_asset(
        group="training", kinds=("mlflow",), resources=("mlflow",),
        description="MLlib PipelineModel with its alarm thresholds, tracked and registered in MLflow, judged per row "
                    "and per failure event on the holdout.",
        ins={"training_set": AssetIn()}, deps=[AssetDep(RAW_FAILURES)],
        check_specs=[AssetCheckSpec(
            CHECK_QUALITY_GATE, asset=FAILURE_MODEL, blocking=True,
            description="Holdout macro F1, event recall and alarm precision reach their floors, and macro F1 is no "
                        "worse than the champion's on the same rows (minus a tolerance); only then the "
                        f"'{CHAMPION}' alias moves to the new version.")],
    )
    def failure_model(context: AssetExecutionContext, config: ModelTrainingConfig,
                      training_set: DataFrame) -> Iterator:
        step, mlflow_res = step_resources(context), context.resources.mlflow
        experiment_id = mlflow_res.activate()
        champion = mlflow_res.load_champion(step.spark.session) if config.compare_with_champion else None
        failures = step.tables.store().read(step.spark.session, RAW_FAILURES)
        model_config = config.to_model_config()
        outcome = train_and_judge(training_set, failures, model_config, columns, labels.horizon_hours,
                                  features.cadence_hours, config.target_alarm_precision, config.floors(), champion)
        train = training_set.where(training_set.split == TRAIN)
        logged = log_training(
            outcome.model, mlflow_res.model_name, experiment_id,
            params=_run_params(model_config, columns, outcome, features, labels), evaluation=outcome.holdout.rows,
            importances=feature_importances(outcome.model), example_input=train.select(*columns),
            tags={"dagster_run_id": context.run_id, "quality_gate": "passed" if outcome.passed else "failed"},
            texts={DECISION_RULE_FILE: outcome.rule.to_json(), DRIFT_REFERENCE_FILE: drift_reference(
                outcome.model.transform(train), [c for c in columns if c not in CATEGORICAL_FEATURES],
                PREDICTED, LABEL_CLASSES).to_json()},
            metrics=run_metrics(outcome),
            figures={"alarm_tradeoff.png": curve_figure(
                outcome.curves, outcome.rule, "Tuning period: event recall vs alarm precision")} if outcome.curves else {},
        )
        champion_now = mlflow_res.record_gate(logged.version, outcome.passed, outcome.holdout.rows.macro_f1)
        run_link = mlflow_res.run_url(logged.experiment_id, logged.run_id)
        yield MaterializeResult(metadata=model_metadata(outcome, logged, mlflow_res.model_name, model_config.classifier,
                                                        champion_now, run_link))
        yield AssetCheckResult(check_name=CHECK_QUALITY_GATE, asset_key=FAILURE_MODEL, passed=outcome.passed,
                               description="; ".join(outcome.reasons),
                               metadata=gate_metadata(outcome, config.floors(), logged.version, champion_now, run_link))

    return [training_set, failure_model]


def _run_params(model_config: ModelConfig, columns: list[str], outcome: Outcome, features: FeatureParams,
                labels: LabelParams) -> dict:
    """What the MLflow run records as parameters (the window and the last day learned from among them)."""
    return {"classifier": model_config.classifier, **model_config.hyperparameters(),
            "class_weighting": model_config.class_weighting, "seed": model_config.seed,
            "features": ",".join(columns), "training_window": describe_spans(outcome.spans),
            "trained_through": outcome.trained_through.isoformat(), "decision_rule": outcome.rule.describe(),
            "cadence_hours": features.cadence_hours, "horizon_hours": labels.horizon_hours,
            "train_rows": sum(outcome.counts[TRAIN].values()), "train_seconds": round(outcome.train_seconds, 1)}

