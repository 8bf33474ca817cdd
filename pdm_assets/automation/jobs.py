"""The jobs a user, a schedule or a sensor launches: each a selection of the asset graph."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Optional

from dagster import define_asset_job

if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


@dataclass(frozen=True)
class Jobs:
    """The six asset jobs, by the role the automation gives them."""

    ingest: UnresolvedAssetJobDefinition
    features: UnresolvedAssetJobDefinition
    ingest_and_score: UnresolvedAssetJobDefinition
    training: UnresolvedAssetJobDefinition
    scoring: UnresolvedAssetJobDefinition
    pipeline: UnresolvedAssetJobDefinition

    def all(self) -> list[UnresolvedAssetJobDefinition]:
        return [getattr(self, f.name) for f in fields(self)]


def build_jobs(shadow_asset: Optional[str] = None) -> Jobs:
    """The jobs; `shadow_asset` (the challenger's predictions, when one is configured) is scored with the champion."""
    shadow = f" or key:{shadow_asset}" if shadow_asset else ""
    return Jobs(
        ingest=define_asset_job(
            "ingest_raw_job", selection="group:raw",
            description="Ingest the landing zone into the raw tables for a day or a range of days."),
        features=define_asset_job(
            "features_job", selection="group:raw or group:features",
            description="Ingest, then build features and labels for a day or a range of days."),
        ingest_and_score=define_asset_job(
            "ingest_and_score_job", selection="group:raw or group:features or group:scoring",
            description="Ingest a day or a range of days, build features and labels, and score them with the champion."),
        training=define_asset_job(
            "training_job", selection="group:training",
            description="Build the training set from the labelled days present, train, track, register and gate the "
                        "model."),
        scoring=define_asset_job(
            "scoring_job", selection="key:failure_predictions or key:maintenance_alerts" + shadow,
            description="Score a day or a range of days with the champion (or a pinned version), and list the alerts "
                        "standing."),
        pipeline=define_asset_job(
            "pipeline_job", selection="*",
            description="Everything for a range of days in one run: ingest, features, labels, train and gate the "
                        "model on the labelled days present, score the range."),
    )
