"""Sensors that act on the model: re-score when the champion moves (the last N days, or exactly the days a
stale version scored), and retrain when the champion decays on live data."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Iterable, Optional, Sequence

from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pdm_assets.names import FAILURE_PREDICTIONS, MACHINE_FEATURES, PREDICTION_OUTCOMES
from pdm_assets.partitions import range_tags
from pdm_assets.resources.mlflow import MlflowResource
from pdm_assets.resources.tables import TableStoreResource



def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days grouped into [first, last] runs of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_run_request(first: date, last: date, run_key: str, reason: str) -> RunRequest:
    """One run over [first, last] (the Spark assets score a range in one job)."""
    return RunRequest(run_key=run_key, tags={**range_tags(first, last), "pdm/reason": reason})


def _champion_version(mlflow: MlflowResource) -> Optional[str]:
    """The champion's version as text, or None when no version holds the alias yet."""
    champion = mlflow.champion()
    return str(champion.version) if champion is not None else None


def materialized_days(instance: DagsterInstance, asset: str) -> list[date]:
    """The days the instance records as materialized for a daily-partitioned asset."""
    return sorted(date.fromisoformat(key) for key in instance.get_materialized_partitions(AssetKey(asset)))


def versions_by_day_from_events(instance: DagsterInstance, asset: str, page: int = 1000) -> dict[date, set[str]]:
    """{day: {model_version}} from each day's latest materialization metadata (newest events first).

    For tables this host cannot read (Unity Catalog: only Spark on the cluster can), the versions the
    scoring steps recorded per partition stand in for the rows' own model_version column.
    """
    versions: dict[date, set[str]] = {}
    seen: set[date] = set()
    cursor = None
    while True:  # pages: the event log caps one fetch
        result = instance.fetch_materializations(AssetKey(asset), limit=page, cursor=cursor)
        for record in result.records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition is None:
                continue
            day = date.fromisoformat(materialization.partition)
            if day in seen:
                continue  # an older materialization of a day already judged by its latest one
            seen.add(day)
            version = materialization.metadata.get("model_version")
            if version is not None:
                versions[day] = {str(version.value)}
        if not result.has_more:
            return versions
        cursor = result.cursor


def _no_champion(mlflow: MlflowResource) -> SkipReason:
    return SkipReason(f"Registered model '{mlflow.model_name}' has no champion yet.")


def build_champion_sensor(job: JobDefinition, rescore_days: int) -> SensorDefinition:
    """champion_sensor: when the champion alias moves, one run re-scores the last `rescore_days` featured days."""

    @sensor(job=job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
            description=f"When the 'champion' alias moves to another version, re-score the last {rescore_days} days "
                        "that have features (one run per contiguous range).")
    def champion_sensor(context: SensorEvaluationContext, mlflow: MlflowResource, tables: TableStoreResource):
        version = _champion_version(mlflow)
        if version is None:
            return _no_champion(mlflow)
        previous = context.cursor
        if previous == version:
            return SkipReason(f"Champion is still version {version}.")
        if previous is None:  # first look: remember the champion; nothing has moved yet
            return SensorResult(skip_reason=f"Watching champion version {version}.", cursor=version)
        store = tables.store()
        featured = (store.existing_days(MACHINE_FEATURES) if store.readable_without_spark(MACHINE_FEATURES)
                    else materialized_days(context.instance, MACHINE_FEATURES))
        recent = featured[-rescore_days:]
        requests = [range_run_request(a, b, f"champion-v{version}-{a}-{b}",
                                      f"champion moved from v{previous} to v{version}")
                    for a, b in contiguous_ranges(recent)]
        return SensorResult(run_requests=requests, cursor=version)

    return champion_sensor


def stale_days(versions_by_day: dict[date, set[str]], champion_version: str) -> list[date]:
    """Days with any row scored by a version other than the champion."""
    return sorted(d for d, versions in versions_by_day.items() if versions - {champion_version})


def build_stale_predictions_sensor(job: JobDefinition, results_table: str) -> SensorDefinition:
    """stale_predictions_sensor: re-score exactly the days whose rows a non-champion version scored."""

    @sensor(job=job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.STOPPED,
            description="Re-score exactly the days of failure_predictions scored by a version other than the "
                        "current champion (read from the rows' model_version), one run per contiguous range.")
    def stale_predictions_sensor(context: SensorEvaluationContext, mlflow: MlflowResource, tables: TableStoreResource):
        version = _champion_version(mlflow)
        if version is None:
            return _no_champion(mlflow)
        store = tables.store()
        scored = (store.distinct_values_by_day(results_table, "model_version")
                  if store.readable_without_spark(results_table)
                  else versions_by_day_from_events(context.instance, FAILURE_PREDICTIONS))
        stale = stale_days(scored, version)
        if not stale:
            return SkipReason(f"Every scored day was scored by the champion, version {version}.")
        return [range_run_request(a, b, f"stale-v{version}-{a}-{b}", f"scored by a version other than v{version}")
                for a, b in contiguous_ranges(stale)]

    return stale_predictions_sensor


def scoring_sensors(job: JobDefinition, rescore_days: int, results_table: str) -> Sequence[SensorDefinition]:
    return [build_champion_sensor(job, rescore_days), build_stale_predictions_sensor(job, results_table)]


DECAY_CHECK = AssetCheckKey(AssetKey(PREDICTION_OUTCOMES), "model_decay")


def build_retraining_sensor(training_job: JobDefinition) -> SensorDefinition:
    """retraining_sensor: one training run when the champion's decay check starts failing."""

    @sensor(job=training_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.STOPPED,
            description="When prediction_outcomes' model_decay check fails for the current champion, request one "
                        "training run; not again until a new champion is crowned or the check passes again.")
    def retraining_sensor(context: SensorEvaluationContext, mlflow: MlflowResource):
        latest = context.instance.get_latest_asset_check_evaluation_record(DECAY_CHECK)
        if latest is None:
            return SkipReason("model_decay has not been evaluated yet.")
        if latest.status.value not in ("SUCCEEDED", "FAILED"):  # planned: a run is evaluating it
            return SkipReason(f"model_decay is being evaluated (run {latest.run_id}).")
        state = json.loads(context.cursor) if context.cursor else {}
        if latest.status.value == "SUCCEEDED":
            return SensorResult(skip_reason="model_decay passes.", cursor=json.dumps({}))
        evaluation = latest.event.dagster_event.event_specific_data if latest.event else None  # AssetCheckEvaluation
        judged = evaluation.metadata.get("model_version") if evaluation is not None else None
        version, champion = (str(judged.value) if judged else None), _champion_version(mlflow)
        if version is None or version != champion:
            return SkipReason(f"model_decay failed for version {version}, but the champion is {champion}: "
                              "waiting for the champion's own outcomes.")
        if state.get("requested_for") == version:
            return SkipReason(f"Retraining already requested for decayed version {version}; waiting for a new "
                              "champion or for the check to pass.")
        request = RunRequest(run_key=f"retrain-decayed-v{version}-{latest.id}",
                             tags={"pdm/reason": f"model_decay failed for champion v{version}"})
        return SensorResult(run_requests=[request], cursor=json.dumps({"requested_for": version}))

    return retraining_sensor
