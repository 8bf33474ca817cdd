"""The map of the project: stage assets and their checks, jobs, schedules, sensors, resources, executor.

`defs` is what Dagster loads (`dagster dev -w workspace.yaml`, `dagster asset materialize -m
pdm_assets.definitions`), for the deployment PDM_DEPLOYMENT selects (default: local).
"""
from __future__ import annotations

import math
from typing import Optional

from dagster import Definitions, in_process_executor

from pdm_assets.assets.alerts import build_alert_assets
from pdm_assets.assets.features import build_feature_assets
from pdm_assets.assets.outcomes import build_outcome_assets
from pdm_assets.assets.raw import build_raw_assets
from pdm_assets.assets.scoring import build_scoring_assets
from pdm_assets.assets.training import build_training_assets
from pdm_assets.automation.jobs import build_jobs
from pdm_assets.automation.landing_sensor import build_landing_zone_sensor
from pdm_assets.automation.schedules import build_schedules
from pdm_assets.automation.sensors import build_retraining_sensor, scoring_sensors
from pdm_assets.deployments import Settings
from pdm_assets.deployments.resources import build_resources
from pdm_assets.names import CHALLENGER_PREDICTIONS, FAILURE_PREDICTIONS
from pdm_assets.partitions import daily_partitions


def build_definitions(settings: Optional[Settings] = None, on_cluster: bool = False) -> Definitions:
    """Assets, jobs and resources for the deployment the environment (or `settings`) selects.

    `on_cluster`: the definitions a Pipes step rebuilds on Databricks, where its body runs in place.
    """
    settings = settings or Settings.from_env()
    partitions = daily_partitions(settings.start, settings.end)
    shadow = CHALLENGER_PREDICTIONS if settings.challenger else None
    jobs = build_jobs(shadow_asset=shadow)
    return Definitions(
        assets=[
            *build_raw_assets(partitions),  # landing files -> raw tables, rejects kept
            *build_feature_assets(partitions, settings.features, settings.labels),
            *build_training_assets(settings.features, settings.labels, settings.training),
            *build_scoring_assets(partitions, settings.challenger),
            *build_alert_assets(partitions, settings.features.cadence_hours),
            *build_outcome_assets(partitions, settings.features, settings.labels, settings.decay, shadow_table=shadow),
        ],
        jobs=jobs.all(),
        sensors=[
            *scoring_sensors(jobs.scoring, settings.rescore_days, FAILURE_PREDICTIONS),
            build_retraining_sensor(jobs.training),
            build_landing_zone_sensor(jobs.ingest_and_score, partitions,
                                      lookahead_days=math.ceil(settings.labels.horizon_hours / 24),
                                      lookback_days=math.ceil(settings.features.long_window_hours / 24)),
        ],
        schedules=build_schedules(jobs.ingest_and_score, jobs.training, partitions, cron=settings.scoring_cron,
                                  timezone=settings.schedule_timezone, retrain_cron=settings.retrain_cron),
        resources=build_resources(settings, on_cluster),
        # One process per run: one Spark session (one JVM) serves every step.
        executor=in_process_executor,
    )


defs = build_definitions()
