"""Asset checks of raw tables: schema, unique keys, telemetry completeness, reject rate."""
from __future__ import annotations

from datetime import date
from typing import AbstractSet, Iterator, Optional

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from pdm_assets.assets.wiring import StepResources
from pdm_assets.names import (
    CHECK_KEYS_UNIQUE, CHECK_REJECT_RATE, CHECK_SCHEMA_MATCHES_CONTRACT, CHECK_TELEMETRY_COMPLETE,
)
from pdm_assets.pipeline.quality import duplicate_key_count, schema_differences, telemetry_profile
from pdm_assets.pipeline.schemas import TELEMETRY, Dataset, raw_schema

MAX_REJECT_RATE = 0.01  # above 1 % rejected lines, a landing delivery deserves a look


def specs(dataset: Dataset, table: str, dated: bool = True) -> list[AssetCheckSpec]:
    """The checks a raw table carries."""
    result = [
        AssetCheckSpec(CHECK_SCHEMA_MATCHES_CONTRACT, asset=table, blocking=True,
                       description="The Delta table's columns and types equal the data contract."),
        AssetCheckSpec(CHECK_KEYS_UNIQUE, asset=table, blocking=True,
                       description=f"No two rows share the key ({', '.join(dataset.key)})."),
        AssetCheckSpec(CHECK_REJECT_RATE, asset=table,
                       description=f"At most {MAX_REJECT_RATE:.0%} of landing lines were rejected."),
    ]
    if dataset is TELEMETRY:
        result.append(AssetCheckSpec(CHECK_TELEMETRY_COMPLETE, asset=table,
                                     description="24 hourly readings for every known machine and day."))
    return result


def results(step: StepResources, dataset: Dataset, table: str, days: Optional[list[date]], valid: int, rejected: int,
            known_machines: Optional[AbstractSet[int]]) -> Iterator[AssetCheckResult]:
    """Run the checks against what was stored (`known_machines`: raw_machines' ids, for completeness)."""
    if dataset is TELEMETRY and days is not None and known_machines is None:
        raise ValueError("telemetry completeness needs the known machine ids")
    store = step.tables.store()
    spark = step.spark.session
    stored = store.read(spark, table, days)
    expected = raw_schema(dataset)
    if days is None:
        expected = type(expected)([f for f in expected.fields if f.name != "date"])
    declared = store.stored_schema(spark, table)
    problems = schema_differences(declared, expected) if declared is not None else ["no table"]
    yield AssetCheckResult(
        check_name=CHECK_SCHEMA_MATCHES_CONTRACT, asset_key=table, passed=not problems,
        metadata={"problems": MetadataValue.text("; ".join(problems) or "none")},
    )
    # Telemetry's key and completeness figures come from one job: on a new day, Spark jobs are the cost.
    profile = (telemetry_profile(stored, dataset.key, len(known_machines), days)
               if dataset is TELEMETRY and days is not None else None)
    duplicates = profile["duplicate_rows"] if profile is not None else duplicate_key_count(stored, dataset.key)
    yield AssetCheckResult(check_name=CHECK_KEYS_UNIQUE, asset_key=table, passed=duplicates == 0,
                           metadata={"duplicate_rows": MetadataValue.int(duplicates)})
    total = valid + rejected
    rate = rejected / total if total else 0.0
    yield AssetCheckResult(
        check_name=CHECK_REJECT_RATE, asset_key=table, passed=rate <= MAX_REJECT_RATE, severity=AssetCheckSeverity.WARN,
        metadata={"reject_rate": MetadataValue.float(round(rate, 6)), "rejected": MetadataValue.int(rejected),
                  "lines": MetadataValue.int(total)},
    )
    if profile is not None:
        yield AssetCheckResult(
            check_name=CHECK_TELEMETRY_COMPLETE, asset_key=table, severity=AssetCheckSeverity.WARN,
            passed=profile["missing_machine_days"] == 0 and profile["irregular_machine_days"] == 0,
            metadata={k: MetadataValue.int(v) for k, v in profile.items() if k != "duplicate_rows"},
        )

