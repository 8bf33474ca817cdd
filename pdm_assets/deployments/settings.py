"""Settings.from_env: every PDM_* variable read, checked and resolved once, when the definitions are built."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping, Optional

from pdm_assets.automation.schedules import DEFAULT_RETRAIN_CRON, DEFAULT_SCORING_CRON, DEFAULT_TIMEZONE
from pdm_assets.deployments import databricks
from pdm_assets.home import landing_dir, pdm_home, warehouse
from pdm_assets.partitions import DEFAULT_END, DEFAULT_START
from pdm_assets.pipeline.decay import DecayRule
from pdm_assets.pipeline.features import FeatureParams
from pdm_assets.pipeline.labels import LabelParams
from pdm_assets.pipeline.training import TrainingParams

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
        return warehouse(self.home)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        remote = environ.get("SPARK_REMOTE", "").strip() or None
        # SPARK_REMOTE alone means "use that Connect server", as PySpark itself reads it.
        deployment = (environ.get("PDM_DEPLOYMENT") or ("connect" if remote else "local")).strip().lower()
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"PDM_DEPLOYMENT must be one of {', '.join(DEPLOYMENTS)}; got '{deployment}'")
        home, landing = pdm_home(environ), landing_dir(environ)
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
