"""`generate` and `append`: write a simulated timeline into the landing zone, day by day."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from pdm_assets.simulator import params as p
from pdm_assets.simulator.columns import ERRORS, FAILURES, MACHINES, MAINT, TELEMETRY
from pdm_assets.simulator.events import Fleet, RegimeChange, Schedule, day_errors, make_fleet, simulate_schedule
from pdm_assets.simulator.paths import MACHINES_FILE, MAINT_HISTORY_FILE, MANIFEST_FILE, day_file
from pdm_assets.simulator.telemetry import telemetry_day
from pdm_assets.simulator.writer import event_table, machines_table, telemetry_table, write_bytes, write_table

# A failure influences the days before it (drift up to DRIFT_WINDOW_H[1] hours, precursor errors
# PRECURSOR_LEAD_H hours ahead): the schedule is simulated this many days past the last written day.
LOOKAHEAD_DAYS = -(-max(p.DRIFT_WINDOW_H[1], p.PRECURSOR_LEAD_H) // 24)


class ManifestError(ValueError):
    """The landing zone has no usable simulator manifest (so there is nothing to append to)."""


@dataclass(frozen=True)
class SimulationSummary:
    """What one `generate` or `append` call wrote."""

    landing_dir: Path
    seed: int
    machines: int
    first_day: date  # first day of the simulated timeline
    last_day: date  # last day now present
    days_written: int  # days written by this call (from last_day - days_written + 1)
    rows: dict[str, int] = field(default_factory=dict)  # rows written per dataset by this call
    seconds: float = 0.0

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        return (
            f"{self.days_written} day(s) written to {self.landing_dir} in {self.seconds:.1f} s "
            f"(timeline {self.first_day}..{self.last_day}, {self.machines} machines, seed {self.seed}): {counts}"
        )


def generate(
    landing_dir: str | Path,
    machines: int = 100,
    start: date = date(2015, 1, 1),
    days: int = 365,
    seed: int = 42,
    until: Optional[date] = None,
    progress: bool = True,
    regime_change: Optional[RegimeChange] = None,
) -> SimulationSummary:
    """Write a fresh timeline of `days` days from `start` (or from `start` to `until` inclusive).

    Writes machines, the maintenance history before `start`, one file per dataset and day, and
    the manifest `append` continues from. Existing files of those days are replaced; files of
    other days are left alone. With `regime_change`, one machine model's failures are announced
    differently from its day on (the manifest keeps it, so `append` continues the same way).
    """
    if until is not None:
        days = (until - start).days + 1
    if machines < 1 or days < 1 or seed < 0:
        raise ValueError(
            f"need machines >= 1, days >= 1 (start <= until) and seed >= 0; got {machines}, {days}, {seed}"
        )
    began = time.perf_counter()
    landing, last = Path(landing_dir), start + timedelta(days=days - 1)
    rows = _run(landing, seed, machines, start, start, last, progress, regime_change)
    return SimulationSummary(landing, seed, machines, start, last, days, rows, time.perf_counter() - began)


def append(
    landing_dir: str | Path, days: int = 1, progress: bool = False, until: Optional[date] = None
) -> SimulationSummary:
    """Continue the timeline in `landing_dir` by `days` days (or up to `until`, inclusive).

    The result is byte-identical to having generated the longer timeline at once. With `until`
    on or before the last day present, nothing is written.
    """
    if until is None and days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    began = time.perf_counter()
    landing = Path(landing_dir)
    manifest = read_manifest(landing)
    seed, machines = manifest["seed"], manifest["machines"]
    first, last = date.fromisoformat(manifest["first_day"]), date.fromisoformat(manifest["last_day"])
    new_last = until if until is not None else last + timedelta(days=days)
    rows: dict[str, int] = {}
    if new_last > last:
        rows = _run(landing, seed, machines, first, last + timedelta(days=1), new_last, progress,
                    RegimeChange.from_json(manifest.get("regime_change")))
    written = max((new_last - last).days, 0)
    seconds = time.perf_counter() - began
    return SimulationSummary(landing, seed, machines, first, max(last, new_last), written, rows, seconds)


def _run(
    landing: Path, seed: int, machines: int, first: date, write_from: date, last: date, progress: bool,
    regime_change: Optional[RegimeChange] = None,
) -> dict[str, int]:
    """Simulate the timeline from `first` and write the days write_from..last, then the manifest.

    The schedule is always replayed from the timeline's first day (it is cheap next to the
    telemetry), so the days written are the same whichever call writes them. A fresh timeline
    (write_from == first) also gets its machines and maintenance history.
    """
    fleet = make_fleet(seed, machines)
    schedule = simulate_schedule(seed, fleet, first, last + timedelta(days=LOOKAHEAD_DAYS))
    if regime_change is not None:  # no random draw changes: only how the failures are announced
        schedule = replace(schedule, failures=regime_change.apply(schedule.failures, fleet))
    rows: dict[str, int] = {}
    if write_from == first:
        history = schedule.history()
        write_table(landing / MACHINES_FILE, machines_table(fleet))
        write_table(landing / MAINT_HISTORY_FILE, event_table(MAINT, history))
        rows = {MACHINES: machines, "history": len(history)}
    rows.update(_write_days(landing, seed, fleet, schedule, write_from, last, progress))
    manifest = {"seed": seed, "machines": machines, "first_day": first.isoformat(),
                "last_day": last.isoformat(), "version": p.VERSION}
    if regime_change is not None:
        manifest["regime_change"] = regime_change.to_json()
    write_bytes(landing / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    return rows


def read_manifest(landing_dir: str | Path) -> dict:
    """The simulator manifest of a landing zone, or ManifestError if there is none."""
    path = Path(landing_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
        for key in ("seed", "machines", "first_day", "last_day", "version"):
            manifest[key]  # noqa: B018 - fail now, with the file named, rather than later
    except FileNotFoundError:
        raise ManifestError(f"no simulator manifest at {path}: run `pdm-simulate generate` first") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ManifestError(f"unreadable simulator manifest {path}: {err!r}") from None
    if manifest["version"] != p.VERSION:
        # other parameters would continue the timeline with different data than it started with
        raise ManifestError(
            f"{path} was written by simulator version {manifest['version']}, this is {p.VERSION}: generate afresh"
        )
    return manifest


def _write_days(
    landing: Path, seed: int, fleet: Fleet, schedule: Schedule, first: date, last: date, progress: bool
) -> dict[str, int]:
    """Write the four day files of every day in first..last; return rows written per dataset."""
    rows = dict.fromkeys((TELEMETRY, ERRORS, MAINT, FAILURES), 0)
    ordinals = range(first.toordinal(), last.toordinal() + 1)
    # disable=None: a bar on a terminal only, not a line of carriage returns in a log
    for ordinal in tqdm(ordinals, desc="simulating days", unit="day", file=sys.stderr,
                        disable=None if progress else True):
        day = date.fromordinal(ordinal)
        values = telemetry_day(seed, fleet, schedule.failures, ordinal)
        tables = {
            TELEMETRY: telemetry_table(fleet.size, ordinal, values),
            ERRORS: event_table(ERRORS, day_errors(seed, fleet.size, schedule.failures, ordinal)),
            MAINT: event_table(MAINT, schedule.maint.on_day(ordinal)),
            FAILURES: event_table(FAILURES, schedule.failures.on_day(ordinal)),
        }
        for dataset, table in tables.items():
            write_table(day_file(landing, dataset, day), table)
            rows[dataset] += table.num_rows
    return rows
