"""landing_zone_sensor: one run per burst of complete new or changed landing days (DESIGN §1, §3)."""
from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Union

from dagster import (
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    JobDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pdm_assets.automation.sensors import contiguous_ranges, range_run_request
from pdm_assets.pipeline.landing_files import day_file
from pdm_assets.pipeline.schemas import EVENT_DATASETS
from pdm_assets.resources.landing import LandingZoneResource

if TYPE_CHECKING:  # what define_asset_job returns; Dagster resolves it when Definitions are built
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

AssetJob = Union[JobDefinition, "UnresolvedAssetJobDefinition"]

# A day is complete only when every event dataset has its final `<dataset>/<day>.csv`.
DAY_DATASETS: tuple[str, ...] = tuple(d.name for d in EVENT_DATASETS)
LANDING_RUN_KEY_PREFIX = "landing"


def partition_bounds(partitions: DailyPartitionsDefinition) -> Optional[tuple[date, date]]:
    """(first, last) partition day now; a live timeline's last day moves with the clock."""
    last = partitions.get_last_partition_key()
    return (partitions.start.date(), date.fromisoformat(last)) if last else None


def day_fingerprint(landing_dir: str, day: date) -> Optional[str]:
    """Hash of (size, mtime_ns) of the day's four files, or None if one is missing.

    File metadata, not contents: a tick every 30 s would otherwise re-read the whole landing zone
    (about 1.5 MB of telemetry per day for 1,000 machines, hundreds of MB for a year), while a
    stat of four files per day is cheap. Writers replace files by atomic rename (DESIGN §3), so a
    rewrite gets a fresh mtime; a same-size rewrite within one mtime tick (fine on common local file
    systems, coarse on some network ones) would go unseen: re-run such a day by hand.
    """
    parts = []
    for dataset in DAY_DATASETS:
        try:
            stat = os.stat(day_file(landing_dir, dataset, day))
        except FileNotFoundError:  # removed or being replaced between the listing and the stat
            return None
        parts.append(f"{dataset}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def complete_days(landing: LandingZoneResource) -> set[date]:
    """Days whose file of every event dataset has its final name (temp names never match)."""
    days: Optional[set[date]] = None
    for dataset in DAY_DATASETS:
        arrived = set(landing.arrived_days(dataset))
        days = arrived if days is None else days & arrived
    return days or set()


def parse_cursor(cursor: Optional[str]) -> dict[str, str]:
    """The {day: fingerprint} the last evaluation saw; empty on the first evaluation."""
    return dict(json.loads(cursor)) if cursor else {}


def days_to_run(
    seen: Mapping[str, str], current: Mapping[str, str], lookahead_days: int, lookback_days: int = 0
) -> list[date]:
    """New or changed days, with the complete days around them whose outputs they change.

    Labels of day D look `lookahead_days` ahead at failures (failure_labels' lookahead mapping),
    so when D arrives or changes, the labels of D-1 (.. D-lookahead) computed earlier without D's
    failures are incomplete: re-running those days in the same range completes them. Likewise the
    features of D+1 (.. D+lookback) read D's telemetry and errors in their windows: when D arrives
    late (after D+1) or changes, those days are re-run too. Only days complete now are added: a
    missing day cannot be ingested and would fail the whole range. (A corrected maintenance file
    also moves every later day's component ages; re-running that whole tail is left to a backfill.)
    """
    changed = {date.fromisoformat(d) for d, fp in current.items() if seen.get(d) != fp}
    around = {d + timedelta(days=k) for d in changed
              for k in (*range(-lookahead_days, 0), *range(1, lookback_days + 1))}
    return sorted(changed | {d for d in around if d.isoformat() in current})


def range_run_key(first: date, last: date, current: Mapping[str, str]) -> str:
    """Deterministic from the range and its days' fingerprints: unchanged files never get a second run."""
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    digest = hashlib.sha1(json.dumps([[d, current[d]] for d in days]).encode()).hexdigest()[:16]
    return f"{LANDING_RUN_KEY_PREFIX}-{first}-{last}-{digest}"


def _describe(days: Iterable[date]) -> str:
    """`3 day(s): 2015-01-01, ...` for a few days, else the count and the span."""
    days = sorted(days)
    if len(days) <= 5:
        return f"{len(days)} day(s): {', '.join(map(str, days))}"
    return f"{len(days)} days, {days[0]}..{days[-1]}"


def build_landing_zone_sensor(
    job: AssetJob, partitions: DailyPartitionsDefinition, lookahead_days: int = 1, lookback_days: int = 1
) -> SensorDefinition:
    """landing_zone_sensor: one run of `job` per contiguous range of complete new or changed days.

    `lookahead_days`: days of failures a day's labels read ahead (ceil(label horizon / 24 h));
    `lookback_days`: days of telemetry and errors a day's features read back (ceil(long window / 24 h)).
    """
    if lookahead_days < 0 or lookback_days < 0:
        raise ValueError(f"lookahead_days and lookback_days must be >= 0; got {lookahead_days}, {lookback_days}")

    @sensor(
        job=job, name="landing_zone_sensor", minimum_interval_seconds=30, default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Watches the landing zone and runs {job.name} once per contiguous range of days that became complete "
            f"(all of {', '.join(DAY_DATASETS)} have their <dataset>/<YYYY-MM-DD>.csv) or whose files changed. "
            f"The range also takes in the {lookahead_days} complete day(s) before, whose labels wait for those "
            f"failures, and the {lookback_days} complete day(s) after, whose feature windows read those days. "
            "Days outside the partitions are ignored. The first evaluation requests every complete day already "
            "there, as one run per contiguous range (the whole arrived range, for a gap-free landing zone)."
        ),
    )
    def landing_zone_sensor(context: SensorEvaluationContext, landing: LandingZoneResource):
        bounds = partition_bounds(partitions)
        complete = complete_days(landing)
        inside = {d for d in complete if bounds and bounds[0] <= d <= bounds[1]}
        if complete - inside:
            timeline = f"{bounds[0]}..{bounds[1]}" if bounds else "none yet"
            context.log.info(f"Ignoring landing days outside the partitions ({timeline}): "
                             f"{_describe(complete - inside)}.")
        # Days outside stay out of the cursor: on a live timeline they count as new once inside.
        current = {d.isoformat(): fp for d in sorted(inside)
                   if (fp := day_fingerprint(landing.landing_dir, d)) is not None}
        seen = parse_cursor(context.cursor)
        cursor = json.dumps(current, sort_keys=True, separators=(",", ":"))
        days = days_to_run(seen, current, lookahead_days, lookback_days)
        if not days:
            gone = len(seen.keys() - current.keys())
            note = f"; {gone} day(s) no longer complete" if gone else ""
            reason = f"No new or changed complete days ({len(current)} watched{note})."
            if cursor == (context.cursor or "{}"):
                return SkipReason(reason)
            # Days that went incomplete leave the cursor, so they count as new when they come back.
            return SensorResult(skip_reason=reason, cursor=cursor)
        why = "first evaluation" if context.cursor is None else "new or changed days"
        requests = [range_run_request(a, b, range_run_key(a, b, current), f"landing zone: {why} in {a}..{b}")
                    for a, b in contiguous_ranges(days)]
        context.log.info(f"Requesting {len(requests)} run(s) for {_describe(days)}.")
        # The cursor moves with the requests: a failed run is not retried by the sensor (re-run it).
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_zone_sensor
