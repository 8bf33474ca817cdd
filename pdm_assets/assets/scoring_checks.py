"""Checks of failure_predictions: one prediction per feature row, valid probabilities, drift per day."""
from __future__ import annotations

from typing import Iterator, Optional

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue
from pyspark.sql import DataFrame

from pdm_assets.names import (
    CHECK_FEATURE_DRIFT, CHECK_ONE_PREDICTION_PER_ROW, CHECK_PROBABILITIES_VALID, FAILURE_PREDICTIONS,
)
from pdm_assets.pipeline.drift import DriftReference, drift_by_day
from pdm_assets.pipeline.quality import coverage_counts
from pdm_assets.pipeline.scoring import ARGMAX_COLUMN

# PSI past 0.25 is the usual "the population has shifted" mark; 0.1-0.25 is worth watching.
PSI_THRESHOLD = 0.25
KEY_COLUMNS = ["machine_id", "timestamp"]


def specs() -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(CHECK_ONE_PREDICTION_PER_ROW, asset=FAILURE_PREDICTIONS, blocking=True,
                       description="Exactly one prediction per machine_features row of each scored day, and no other."),
        AssetCheckSpec(CHECK_PROBABILITIES_VALID, asset=FAILURE_PREDICTIONS, blocking=True,
                       description="Every class probability is in [0, 1] and each row's sum to 1."),
        AssetCheckSpec(CHECK_FEATURE_DRIFT, asset=FAILURE_PREDICTIONS,
                       description=f"Population stability index of each feature and of the predicted class mix, per "
                                   f"day, against the model's training window; warns past {PSI_THRESHOLD}."),
    ]


def results(stored: DataFrame, features: DataFrame, problems: dict[str, int],
            reference: Optional[DriftReference]) -> Iterator[AssetCheckResult]:
    """The checks of the stored predictions of the scored days, the features they came from, and their
    probability figures (outside_0_1, not_summing_to_1, from `pipeline.scoring.scored_summary`)."""
    cover = coverage_counts(stored, features, KEY_COLUMNS)  # one Spark job instead of five
    rows, keys, feature_rows = cover["rows"], cover["distinct_keys"], cover["source_rows"]
    missing, extra = cover["source_rows_unmatched"], cover["scored_rows_unmatched"]
    yield AssetCheckResult(
        check_name=CHECK_ONE_PREDICTION_PER_ROW, asset_key=FAILURE_PREDICTIONS, passed=rows == keys == feature_rows and not missing and not extra,
        metadata={"predictions": MetadataValue.int(rows), "distinct_keys": MetadataValue.int(keys),
                  "feature_rows": MetadataValue.int(feature_rows), "feature_rows_unscored": MetadataValue.int(missing),
                  "predictions_without_features": MetadataValue.int(extra)},
    )
    yield AssetCheckResult(
        check_name=CHECK_PROBABILITIES_VALID, asset_key=FAILURE_PREDICTIONS,
        passed=problems["outside_0_1"] == 0 and problems["not_summing_to_1"] == 0,
        metadata={k: MetadataValue.int(v) for k, v in problems.items()},
    )
    yield _drift_result(stored, features, reference)


def _drift_result(stored: DataFrame, features: DataFrame, reference: Optional[DriftReference]) -> AssetCheckResult:
    if reference is None:
        return AssetCheckResult(check_name=CHECK_FEATURE_DRIFT, asset_key=FAILURE_PREDICTIONS, passed=False, severity=AssetCheckSeverity.WARN,
                                description="The model's MLflow run has no drift_reference.json: nothing to compare.")
    # the class mix is compared as the reference was taken: the model's arg-max class (not the alarm rule)
    scored = features.join(stored.select(*KEY_COLUMNS, ARGMAX_COLUMN), KEY_COLUMNS)
    per_day = drift_by_day(scored, reference, ARGMAX_COLUMN)
    worst = {day: max(values.items(), key=lambda kv: kv[1]) for day, values in per_day.items() if values}
    drifted = {day: w for day, w in worst.items() if w[1] > PSI_THRESHOLD}
    top = sorted(worst.items(), key=lambda kv: -kv[1][1])[:10]
    table = "\n".join(f"| {day} | {name} | {value:.3f} |" for day, (name, value) in top)
    return AssetCheckResult(
        check_name=CHECK_FEATURE_DRIFT, asset_key=FAILURE_PREDICTIONS, passed=not drifted, severity=AssetCheckSeverity.WARN,
        description=(f"{len(drifted)} of {len(worst)} day(s) past PSI {PSI_THRESHOLD}" if drifted
                     else f"no day past PSI {PSI_THRESHOLD}"),
        metadata={
            "days_drifted": MetadataValue.int(len(drifted)),
            "max_psi": MetadataValue.float(round(max((w[1] for w in worst.values()), default=0.0), 4)),
            "class_mix_psi": MetadataValue.json(
                {day: round(v.get("predicted_class_mix", 0.0), 4) for day, v in sorted(per_day.items())}),
            "worst_days": MetadataValue.md("| day | feature | PSI |\n|---|---|---|\n" + table),
            "threshold": MetadataValue.float(PSI_THRESHOLD),
        },
    )
