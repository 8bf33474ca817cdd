"""Training assets: the time-split training set, and the MLlib model tracked and gated in MLflow."""
import json
import time
from datetime import date
from typing import Iterator, Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field
from pyspark.sql import DataFrame

from pdm_assets.assets.resources_view import SPARK_STEP_RESOURCES, spark_step
from pdm_assets.assets.scoring import DRIFT_REFERENCE_FILE
from pdm_assets.pipeline.drift import drift_reference
from pdm_assets.pipeline.features import CATEGORICAL_FEATURES, FeatureParams, feature_columns
from pdm_assets.pipeline.labels import LABEL_CLASSES, LabelParams
from pdm_assets.pipeline.model import PREDICTED, ModelConfig, evaluate, feature_importances, fit_model, gate_decision
from pdm_assets.pipeline.training import (
    HOLDOUT, TRAIN, build_training_set, class_counts, default_window, split_spans,
)
from pdm_assets.resources.model_registry import CHAMPION, MlflowResource, load_spark_model
from pdm_assets.resources.tables import ALLOW_MISSING_DAYS
from pdm_assets.resources.training_run import log_training

GATE = "quality_gate"


class TrainingSetConfig(Config):
    """The training window: month counts from the first labelled day, or explicit days (YYYY-MM-DD)."""

    train_months: int = 9
    holdout_months: int = 3
    train_start: str = Field(default="", description="First training day; empty: the first labelled day.")
    holdout_start: str = Field(default="", description="First holdout day; empty: train_start + train_months.")
    holdout_end: str = Field(default="", description="Day after the holdout; empty: holdout_start + holdout_months.")


class ModelTrainingConfig(Config):
    """Classifier, hyperparameters and the quality gate."""

    classifier: str = Field(default="random_forest",
                            description="random_forest | decision_tree | gbt_one_vs_rest | logistic_regression")
    hyperparameters: str = Field(default="{}", description='MLlib parameters as JSON, e.g. {"numTrees": 200, "maxDepth": 15}')
    class_weighting: str = Field(default="sqrt_balanced", description="balanced | sqrt_balanced | none")
    seed: int = 42
    min_macro_f1: float = Field(default=0.85, description="Gate: the holdout macro F1 must reach this floor.")
    champion_tolerance: float = Field(
        default=0.01, description="Gate: and be no worse than the current champion's on the same holdout minus this.")

    def to_model_config(self) -> ModelConfig:
        try:
            params = json.loads(self.hyperparameters or "{}")
        except json.JSONDecodeError as err:
            raise ValueError(f"hyperparameters must be a JSON object: {err}") from err
        if not isinstance(params, dict):
            raise ValueError(f"hyperparameters must be a JSON object, got {self.hyperparameters!r}")
        return ModelConfig(self.classifier, params, self.class_weighting, self.seed)


def _day(text: str) -> Optional[date]:
    return date.fromisoformat(text) if text else None


def build_training_assets(features: FeatureParams, labels: LabelParams) -> list[AssetsDefinition]:
    """training_set and failure_model for one feature/label parameter set."""
    columns = feature_columns(features)

    @asset(
        description="Feature rows with their label, split by time into training and holdout windows (no random split).",
        ins={
            "machine_features": AssetIn(metadata={ALLOW_MISSING_DAYS: True}),
            "failure_labels": AssetIn(metadata={ALLOW_MISSING_DAYS: True}),
        },
        io_manager_key="table_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        required_resource_keys=SPARK_STEP_RESOURCES,
        group_name="training",
        kinds={"spark", "delta"},
    )
    def training_set(context: AssetExecutionContext, config: TrainingSetConfig,
                     machine_features: DataFrame, failure_labels: DataFrame) -> Iterator[Output]:
        step = spark_step(context)
        store = step.tables.store()
        labelled = sorted(set(store.existing_days("machine_features", step.spark.session))
                          & set(store.existing_days("failure_labels", step.spark.session)))
        window = default_window(labelled, config.train_months, config.holdout_months,
                                _day(config.train_start), _day(config.holdout_start), _day(config.holdout_end))
        rows = build_training_set(machine_features, failure_labels, window, labels.horizon_hours).persist()
        counts = class_counts(rows)
        yield Output(rows, metadata={
            "window": MetadataValue.text(window.describe()),
            "train_start": MetadataValue.text(window.train_start.isoformat()),
            "holdout_start": MetadataValue.text(window.holdout_start.isoformat()),
            "holdout_end": MetadataValue.text(window.holdout_end.isoformat()),
            "purge_gap_hours": MetadataValue.int(labels.horizon_hours),
            "dagster/row_count": MetadataValue.int(sum(sum(c.values()) for c in counts.values())),
            "train_label_counts": MetadataValue.json(counts[TRAIN]),
            "holdout_label_counts": MetadataValue.json(counts[HOLDOUT]),
        })
        rows.unpersist()

    @asset(
        description="MLlib PipelineModel (indexer, imputer, assembler, classifier) tracked and registered in MLflow.",
        ins={"training_set": AssetIn()},
        required_resource_keys=SPARK_STEP_RESOURCES | {"mlflow"},
        check_specs=[AssetCheckSpec(
            GATE, asset="failure_model", blocking=True,
            description="Holdout macro F1 reaches the floor and is no worse than the champion's (minus a tolerance); "
                        f"only then the '{CHAMPION}' alias moves to the new version.")],
        group_name="training",
        kinds={"spark", "mlflow"},
    )
    def failure_model(context: AssetExecutionContext, config: ModelTrainingConfig,
                      training_set: DataFrame) -> Iterator:
        model_config = config.to_model_config()
        mlflow_res: MlflowResource = context.resources.mlflow
        experiment_id = mlflow_res.activate()
        train = training_set.where(training_set.split == TRAIN).persist()
        holdout = training_set.where(training_set.split == HOLDOUT).persist()
        try:
            counts = class_counts(training_set)
            began = time.perf_counter()
            model = fit_model(train, model_config, columns, counts[TRAIN])
            train_seconds = time.perf_counter() - began
            evaluation = evaluate(model, holdout)
            champion = mlflow_res.champion()
            champion_f1, champion_note = _champion_score(champion, mlflow_res, holdout)
            passed, reason = gate_decision(evaluation.macro_f1, config.min_macro_f1, champion_f1,
                                           config.champion_tolerance)
            window = split_spans(training_set)
            logged = log_training(
                model, mlflow_res.model_name, experiment_id,
                params={"classifier": model_config.classifier, **model_config.hyperparameters(),
                        "class_weighting": model_config.class_weighting, "seed": model_config.seed,
                        "features": ",".join(columns), "training_window": window,
                        "cadence_hours": features.cadence_hours, "horizon_hours": labels.horizon_hours,
                        "train_rows": sum(counts[TRAIN].values()), "train_seconds": round(train_seconds, 1)},
                evaluation=evaluation, importances=feature_importances(model),
                example_input=train.select(*columns),
                tags={"dagster_run_id": context.run_id, "quality_gate": "passed" if passed else "failed"},
                # What scoring compares each day with (the drift check of failure_predictions).
                texts={DRIFT_REFERENCE_FILE: drift_reference(
                    model.transform(train), [c for c in columns if c not in CATEGORICAL_FEATURES],
                    PREDICTED, LABEL_CLASSES).to_json()},
            )
            client = mlflow_res.client()
            client.set_model_version_tag(mlflow_res.model_name, logged.version, "quality_gate",
                                         "passed" if passed else "failed")
            client.set_model_version_tag(mlflow_res.model_name, logged.version, "holdout_macro_f1",
                                         f"{evaluation.macro_f1:.4f}")
            if passed:
                client.set_registered_model_alias(mlflow_res.model_name, CHAMPION, logged.version)
            now_champion = logged.version if passed else (str(champion.version) if champion else None)
            run_link = mlflow_res.run_url(logged.experiment_id, logged.run_id)
            yield MaterializeResult(metadata={
                "model_name": MetadataValue.text(mlflow_res.model_name),
                "model_version": MetadataValue.text(logged.version),
                "mlflow_run_id": MetadataValue.text(logged.run_id),
                "mlflow_run": MetadataValue.url(run_link),
                "model_uri": MetadataValue.text(logged.model_uri),
                "champion_version": MetadataValue.text(now_champion or "none"),
                "classifier": MetadataValue.text(model_config.classifier),
                "training_window": MetadataValue.text(window),
                "train_seconds": MetadataValue.float(round(train_seconds, 1)),
                "macro_f1": MetadataValue.float(round(evaluation.macro_f1, 4)),
                "accuracy": MetadataValue.float(round(evaluation.accuracy, 4)),
                "recall": MetadataValue.json({c: round(v, 4) for c, v in evaluation.recall.items()}),
                "precision": MetadataValue.json({c: round(v, 4) for c, v in evaluation.precision.items()}),
                "confusion_matrix": MetadataValue.md(evaluation.confusion_markdown()),
            })
            yield AssetCheckResult(
                check_name=GATE, asset_key="failure_model", passed=passed,
                description=reason,
                metadata={
                    "macro_f1": MetadataValue.float(round(evaluation.macro_f1, 4)),
                    "floor": MetadataValue.float(config.min_macro_f1),
                    "champion_macro_f1": MetadataValue.text(
                        f"{champion_f1:.4f}" if champion_f1 is not None else champion_note),
                    "tolerance": MetadataValue.float(config.champion_tolerance),
                    "candidate_version": MetadataValue.text(logged.version),
                    "champion_version": MetadataValue.text(now_champion or "none"),
                    "mlflow_run": MetadataValue.url(run_link),
                },
            )
        finally:
            train.unpersist()
            holdout.unpersist()

    return [training_set, failure_model]


def _champion_score(champion, mlflow_res: MlflowResource, holdout: DataFrame) -> tuple[Optional[float], str]:
    """The current champion's macro F1 on this holdout, or why there is none to compare with."""
    if champion is None:
        return None, "no champion yet"
    try:
        model = load_spark_model(f"models:/{mlflow_res.model_name}/{champion.version}", holdout.sparkSession)
        return evaluate(model, holdout).macro_f1, ""
    except Exception as err:  # a champion built on other feature columns cannot score this holdout
        return None, f"champion v{champion.version} cannot score this holdout ({type(err).__name__}); floor only"
