"""Asset checks of features and labels: grid coverage, nulls, label mix, label↔feature match."""
from __future__ import annotations

from datetime import date
from typing import Iterator

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from pdm_assets.assets.wiring import StepResources
from pdm_assets.names import (
    CHECK_LABELS_FINAL, CHECK_LABELS_HAVE_FEATURES, CHECK_LABEL_MIX, CHECK_NO_NULL_FEATURES, CHECK_ONE_ROW_PER_GRID_POINT, FAILURE_LABELS, MACHINE_FEATURES,
)
from pdm_assets.pipeline.features import FeatureParams, feature_columns
from pdm_assets.pipeline.labels import NO_FAILURE
from pdm_assets.pipeline.quality import rows_without_match, sum_over_days

# A 24 h horizon on a 3 h grid labels ~8 points per failure: ~2 % of rows in the published data.
# Above 10 % something is off (a duplicated failure feed, a horizon far too long).
MAX_FAILURE_SHARE = 0.10



def feature_specs() -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(CHECK_ONE_ROW_PER_GRID_POINT, asset=MACHINE_FEATURES, blocking=True,
                       description="Exactly one row per known machine and grid point of each day."),
        AssetCheckSpec(CHECK_NO_NULL_FEATURES, asset=MACHINE_FEATURES,
                       description="No feature is null (a null mean means a machine sent no telemetry in a window)."),
    ]


def label_specs() -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(CHECK_LABEL_MIX, asset=FAILURE_LABELS,
                       description=f"Failure labels are at most {MAX_FAILURE_SHARE:.0%} of rows and 'none' is present."),
        AssetCheckSpec(CHECK_LABELS_HAVE_FEATURES, asset=FAILURE_LABELS, blocking=True,
                       description="Every label row has a machine_features row with the same machine and time."),
        AssetCheckSpec(CHECK_LABELS_FINAL, asset=FAILURE_LABELS,
                       description="Every label is final: the failure days its horizon reaches have been ingested "
                                   "(provisional labels never train or judge a model)."),
    ]


def feature_results(per_day: dict[str, dict[str, int]], machines: int, days: list[date],
                    params: FeatureParams) -> Iterator[AssetCheckResult]:
    """The feature checks from `quality.feature_profile` of the stored days."""
    points = len(days) * (24 // params.cadence_hours)
    summed = sum_over_days(per_day)  # a timestamp lies in one day: distinct keys per day add up too
    coverage = {"rows": summed.get("_rows", 0), "distinct_keys": summed.get("_keys", 0),
                "expected_rows": machines * points}
    yield AssetCheckResult(
        check_name=CHECK_ONE_ROW_PER_GRID_POINT, asset_key=MACHINE_FEATURES,
        passed=coverage["rows"] == coverage["expected_rows"] == coverage["distinct_keys"],
        metadata={k: MetadataValue.int(v) for k, v in coverage.items()},
    )
    bad = {c: summed[c] for c in feature_columns(params) if summed.get(c)}
    yield AssetCheckResult(
        check_name=CHECK_NO_NULL_FEATURES, asset_key=MACHINE_FEATURES, passed=not bad, severity=AssetCheckSeverity.WARN,
        metadata={"columns_with_nulls": MetadataValue.json(bad)},
    )


def label_results(step: StepResources, days: list[date], classes: dict[str, int], not_final: list[str],
                  provisional_rows: int) -> Iterator[AssetCheckResult]:
    total = sum(classes.values())
    failing = total - classes.get(NO_FAILURE, 0)
    share = failing / total if total else 0.0
    yield AssetCheckResult(
        check_name=CHECK_LABEL_MIX, asset_key=FAILURE_LABELS, severity=AssetCheckSeverity.WARN,
        passed=total > 0 and classes.get(NO_FAILURE, 0) > 0 and share <= MAX_FAILURE_SHARE,
        metadata={"failure_share": MetadataValue.float(round(share, 6)), "rows": MetadataValue.int(total)},
    )
    spark, store = step.spark.session, step.tables.store()
    labels = store.read(spark, FAILURE_LABELS, days)
    features = store.read(spark, MACHINE_FEATURES, days)
    orphans = rows_without_match(labels, features, ["machine_id", "timestamp"])
    yield AssetCheckResult(check_name=CHECK_LABELS_HAVE_FEATURES, asset_key=FAILURE_LABELS, passed=orphans == 0,
                           metadata={"labels_without_features": MetadataValue.int(orphans)})
    yield AssetCheckResult(
        check_name=CHECK_LABELS_FINAL, asset_key=FAILURE_LABELS, passed=not not_final, severity=AssetCheckSeverity.WARN,
        metadata={"days_not_final": MetadataValue.text(", ".join(not_final) or "none"),
                  "provisional_rows": MetadataValue.int(provisional_rows)},
    )
