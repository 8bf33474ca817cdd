"""The one environment switch: PDM_DEPLOYMENT = local | connect | databricks, read at build time."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from dagster import Definitions, EnvVar, ResourceDefinition, define_asset_job, in_process_executor

from pdm_assets.assets.alerts import build_alert_assets
from pdm_assets.assets.features import build_feature_assets
from pdm_assets.assets.outcomes import build_outcome_assets
from pdm_assets.assets.raw import build_raw_assets
from pdm_assets.assets.scoring import CHALLENGER_TABLE, DEFAULT_RESULTS_TABLE, build_scoring_assets
from pdm_assets.assets.training import build_training_assets
from pdm_assets.automation.landing_sensor import build_landing_zone_sensor
from pdm_assets.automation.schedules import (
    DEFAULT_RETRAIN_CRON,
    DEFAULT_SCORING_CRON,
    DEFAULT_TIMEZONE,
    build_schedules,
)
from pdm_assets.automation.sensors import build_retraining_sensor, scoring_sensors
from pdm_assets.pipeline.decay import DecayRule
from pdm_assets.pipeline.features import FeatureParams
from pdm_assets.pipeline.labels import LabelParams
from pdm_assets.pipeline.training import TrainingParams
from pdm_assets.partitions import DEFAULT_END, DEFAULT_START, daily_partitions
from pdm_assets.resources import databricks
from pdm_assets.resources.landing import LandingZoneResource
from pdm_assets.resources.model_registry import MlflowResource, local_mlflow_uris
from pdm_assets.resources.scoring_model import ScoringModelResource
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.tables import SparkTableIOManager, TableStoreResource

DEPLOYMENTS = ("local", "connect", "databricks")


@dataclass(frozen=True)
class Settings:
    """Everything the environment decides, read once when Definitions are built."""

    deployment: str
    home: Path
    landing_dir: Path
    start: date
    end: Optional[date]  # exclusive; None = a live timeline ending yesterday
    features: FeatureParams = FeatureParams()
    labels: LabelParams = LabelParams()
    training: TrainingParams = TrainingParams()
    spark_master: str = "local[*]"
    spark_remote: Optional[str] = None
    shuffle_partitions: int = 8  # few suit a 2-core machine; a cluster deployment raises it
    mlflow_tracking_uri: str = ""  # empty: SQLite under PDM_HOME/mlflow
    mlflow_registry_uri: str = ""
    model_name: str = "pdm_failure_model"
    rescore_days: int = 7  # days champion_sensor re-scores when the champion moves
    decay: DecayRule = DecayRule()  # the model_decay check on prediction_outcomes
    challenger: str = ""  # a registered version or alias scored beside the champion (shadow scoring); empty: none
    scoring_cron: str = DEFAULT_SCORING_CRON
    schedule_timezone: str = DEFAULT_TIMEZONE
    retrain_cron: str = DEFAULT_RETRAIN_CRON
    databricks: Optional[databricks.DatabricksSettings] = None  # only for PDM_DEPLOYMENT=databricks

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        remote = environ.get("SPARK_REMOTE", "").strip() or None
        # SPARK_REMOTE alone means "use that Connect server", as PySpark itself reads it.
        deployment = (environ.get("PDM_DEPLOYMENT") or ("connect" if remote else "local")).strip().lower()
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"PDM_DEPLOYMENT must be one of {', '.join(DEPLOYMENTS)}; got '{deployment}'")
        home = Path(environ.get("PDM_HOME") or Path.home() / ".pdm_assets").expanduser().resolve()
        landing = Path(environ.get("PDM_LANDING_DIR") or home / "landing").expanduser().resolve()
        start = _parse_day(environ.get("PDM_START_DATE"), "PDM_START_DATE") or DEFAULT_START
        end_text = environ.get("PDM_END_DATE")
        if end_text is None:  # a bounded year by default; a live timeline only when asked for
            end = DEFAULT_END if start == DEFAULT_START else start + timedelta(days=365)
        elif end_text.strip().lower() in ("", "open", "live", "none"):
            end = None
        else:
            end = _parse_day(end_text, "PDM_END_DATE")
        if end is not None and end <= start:
            raise ValueError(f"PDM_END_DATE ({end}) must be after PDM_START_DATE ({start})")
        if end is None and start >= utc_today():
            raise ValueError(f"A live timeline needs PDM_START_DATE before today; got {start}")
        cadence = _whole_number(environ, "PDM_CADENCE_HOURS", 3)
        features = FeatureParams(cadence, _whole_number(environ, "PDM_SHORT_WINDOW_HOURS", 3),
                                 _whole_number(environ, "PDM_LONG_WINDOW_HOURS", 24))
        labels = LabelParams(cadence, _whole_number(environ, "PDM_LABEL_HORIZON_HOURS", 24))
        training = TrainingParams(_whole_number(environ, "PDM_TRAIN_MONTHS", 9),
                                  _whole_number(environ, "PDM_HOLDOUT_MONTHS", 3),
                                  _fraction(environ, "PDM_TUNING_SHARE", 0.25),
                                  _fraction(environ, "PDM_TARGET_ALARM_PRECISION", 0.90))
        table_format = environ.get("PDM_TABLE_FORMAT", "").strip().lower()
        if table_format not in ("", "delta"):
            raise ValueError(f"PDM_TABLE_FORMAT={table_format}: every deployment now writes Delta Lake tables "
                             "(the Parquet folder store is gone); unset PDM_TABLE_FORMAT.")
        if deployment == "connect" and not remote:
            raise ValueError("PDM_DEPLOYMENT=connect needs SPARK_REMOTE=sc://host:port")
        return cls(deployment, home, landing, start, end, features, labels, training,
                   spark_master=environ.get("PDM_SPARK_MASTER", "local[*]"), spark_remote=remote,
                   shuffle_partitions=_whole_number(environ, "PDM_SHUFFLE_PARTITIONS", 8),
                   mlflow_tracking_uri=environ.get("PDM_MLFLOW_TRACKING_URI", "").strip(),
                   mlflow_registry_uri=environ.get("PDM_MLFLOW_REGISTRY_URI", "").strip(),
                   model_name=environ.get("PDM_MODEL_NAME", "").strip() or "pdm_failure_model",
                   rescore_days=_whole_number(environ, "PDM_RESCORE_DAYS", 7),
                   challenger=environ.get("PDM_CHALLENGER", "").strip(),
                   decay=_decay_rule(environ),
                   scoring_cron=environ.get("PDM_SCORING_CRON", "").strip() or DEFAULT_SCORING_CRON,
                   schedule_timezone=environ.get("PDM_SCHEDULE_TIMEZONE", "").strip() or DEFAULT_TIMEZONE,
                   retrain_cron=environ.get("PDM_RETRAIN_CRON", "").strip() or DEFAULT_RETRAIN_CRON,
                   databricks=databricks.DatabricksSettings.from_env(environ) if deployment == "databricks" else None)

    def last_day(self) -> date:
        """The last partition day of the timeline."""
        return (self.end or utc_today()) - timedelta(days=1)


def utc_today() -> date:
    """Today in UTC, the partitions' time zone."""
    return datetime.now(timezone.utc).date()


def _decay_rule(environ: Mapping[str, str]) -> DecayRule:
    try:
        return DecayRule(environ.get("PDM_DECAY_METRIC", "").strip() or DecayRule.metric,
                         _whole_number(environ, "PDM_DECAY_DAYS", DecayRule.days),
                         _whole_number(environ, "PDM_DECAY_BELOW", DecayRule.below),
                         _fraction(environ, "PDM_DECAY_MARGIN", DecayRule.margin),
                         _whole_number(environ, "PDM_DECAY_POOL_DAYS", DecayRule.pool_days),
                         _whole_number(environ, "PDM_DECAY_MIN_EVENTS", DecayRule.min_events))
    except ValueError as err:
        raise ValueError(f"{err} (PDM_DECAY_METRIC, PDM_DECAY_DAYS = N, PDM_DECAY_BELOW = K, PDM_DECAY_MARGIN, "
                         "PDM_DECAY_POOL_DAYS, PDM_DECAY_MIN_EVENTS)") from None


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise ValueError(f"{name} must be a whole number; got '{text}'")
    return int(text)


def _fraction(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"{name} must be a number such as 0.9; got '{text}'") from err


def _parse_day(text: Optional[str], name: str) -> Optional[date]:
    if not text or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(f"{name} must be a date YYYY-MM-DD; got '{text}'") from err


def _spark_resource(settings: Settings) -> SparkSessionResource:
    if settings.deployment == "connect":
        return SparkSessionResource(remote=EnvVar("SPARK_REMOTE"), shuffle_partitions=settings.shuffle_partitions)
    return SparkSessionResource(master=settings.spark_master, shuffle_partitions=settings.shuffle_partitions)


def _mlflow_resource(settings: Settings) -> MlflowResource:
    local_uri, local_artifacts = local_mlflow_uris(settings.home)
    tracking = settings.mlflow_tracking_uri or local_uri
    return MlflowResource(
        tracking_uri=tracking,
        registry_uri=settings.mlflow_registry_uri,
        artifact_root=local_artifacts if tracking == local_uri else "",
        model_name=settings.model_name,
    )


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources of the selected deployment."""
    if settings.deployment == "databricks":
        return _databricks_resources(settings)
    spark = _spark_resource(settings)
    tables = TableStoreResource(warehouse=str(settings.warehouse))
    mlflow = _mlflow_resource(settings)
    return {
        "spark": spark,
        "tables": tables,
        "landing": LandingZoneResource(landing_dir=str(settings.landing_dir)),
        "table_io_manager": SparkTableIOManager(tables=tables, spark=spark),
        "mlflow": mlflow,
        # Steps run in this process: a run that scores starts loading the champion when it starts.
        "scoring_model": ScoringModelResource(mlflow=mlflow, spark=spark, preload=True),
        # Local and Connect runs execute steps in this process: no launcher.
        "step_launcher": ResourceDefinition.none_resource(description="No step launcher: steps run here."),
    }


def _databricks_resources(settings: Settings) -> dict[str, Any]:
    """Steps run on a cluster; the same resources are rebuilt there from the forwarded PDM_* variables."""
    cfg = settings.databricks or databricks.DatabricksSettings.from_env({})
    # On the cluster `getActiveSession()` is the cluster's session; locally no step touches Spark.
    spark = SparkSessionResource(master=settings.spark_master, shuffle_partitions=settings.shuffle_partitions)
    tables = TableStoreResource(warehouse=str(settings.warehouse), catalog=cfg.catalog, schema_name=cfg.schema)
    tracking, registry, model_name = databricks.mlflow_settings(
        cfg, settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.model_name)
    local_uri, local_artifacts = local_mlflow_uris(settings.home)
    # Forward the resolved timeline and paths too, so both sides build identical definitions.
    forwarded = {**cfg.env_variables, "PDM_DEPLOYMENT": "databricks", "PDM_HOME": str(settings.home),
                 "PDM_LANDING_DIR": str(settings.landing_dir), "PDM_START_DATE": settings.start.isoformat(),
                 "PDM_END_DATE": settings.end.isoformat() if settings.end else "live",
                 "PDM_MLFLOW_TRACKING_URI": tracking,
                 "PDM_MLFLOW_REGISTRY_URI": registry, "PDM_MODEL_NAME": model_name}
    mlflow = MlflowResource(tracking_uri=tracking, registry_uri=registry, model_name=model_name,
                            artifact_root=local_artifacts if tracking == local_uri else "")
    return {
        "spark": spark,
        "tables": tables,
        "landing": LandingZoneResource(landing_dir=str(settings.landing_dir)),
        "table_io_manager": SparkTableIOManager(tables=tables, spark=spark),
        "mlflow": mlflow,
        # The scoring step loads its model on the cluster; this host has no Spark to preload with.
        "scoring_model": ScoringModelResource(mlflow=mlflow, spark=spark, preload=False),
        "step_launcher": databricks.databricks_step_launcher(replace(cfg, env_variables=forwarded)),
    }


def build_definitions(settings: Optional[Settings] = None) -> Definitions:
    """Assets, jobs and resources for the deployment the environment selects."""
    settings = settings or Settings.from_env()
    partitions = daily_partitions(settings.start, settings.end)
    assets = [
        *build_raw_assets(partitions),
        *build_feature_assets(partitions, settings.features, settings.labels),
        *build_training_assets(settings.features, settings.labels, settings.training),
        *build_scoring_assets(partitions, settings.challenger),
        *build_alert_assets(partitions, settings.features.cadence_hours),
        *build_outcome_assets(partitions, settings.features, settings.labels, settings.decay,
                              shadow_table=CHALLENGER_TABLE if settings.challenger else None),
    ]
    shadow = f" or key:{CHALLENGER_TABLE}" if settings.challenger else ""
    ingest_job = define_asset_job(
        "ingest_raw_job", selection="group:raw",
        description="Ingest the landing zone into the raw tables for a day or a range of days.",
    )
    features_job = define_asset_job(
        "features_job", selection="group:raw or group:features",
        description="Ingest, then build features and labels for a day or a range of days.",
    )
    training_job = define_asset_job(
        "training_job", selection="group:training",
        description="Build the training set from the labelled days present, train, track, register and gate the model.",
    )
    scoring_job = define_asset_job(
        "scoring_job", selection="key:failure_predictions or key:maintenance_alerts" + shadow,
        description="Score a day or a range of days with the champion (or a pinned version), and list the alerts standing.",
    )
    ingest_and_score_job = define_asset_job(
        "ingest_and_score_job", selection="group:raw or group:features or group:scoring",
        description="Ingest a day or a range of days, build features and labels, and score them with the champion.",
    )
    pipeline_job = define_asset_job(
        "pipeline_job", selection="*",
        description="Everything for a range of days in one run: ingest, features, labels, train and gate the "
                    "model on the labelled days present, score the range.",
    )
    return Definitions(
        assets=assets,
        jobs=[ingest_job, features_job, ingest_and_score_job, training_job, scoring_job, pipeline_job],
        sensors=[
            *scoring_sensors(scoring_job, settings.rescore_days, DEFAULT_RESULTS_TABLE),
            build_retraining_sensor(training_job),
            build_landing_zone_sensor(ingest_and_score_job, partitions,
                                      lookahead_days=math.ceil(settings.labels.horizon_hours / 24),
                                      lookback_days=math.ceil(settings.features.long_window_hours / 24)),
        ],
        schedules=build_schedules(ingest_and_score_job, training_job, partitions, cron=settings.scoring_cron,
                                  timezone=settings.schedule_timezone, retrain_cron=settings.retrain_cron),
        resources=build_resources(settings),
        # One process per run: one Spark session (one JVM) serves every step.
        executor=in_process_executor,
    )
