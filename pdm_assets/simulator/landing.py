"""Land bulk CSVs (like the published whole-year files) as per-day landing files.

Lines are moved, never re-formatted: every data line lands byte for byte, under the header line
of its source file, so ingestion sees exactly what was published. Lines whose datetime cannot be
read are kept visible in `<dataset>/_undated.csv` instead of being dropped.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Iterable, Optional

from pdm_assets.simulator.columns import COLUMNS, MACHINES, MAINT
from pdm_assets.simulator.paths import MACHINES_FILE, MAINT_HISTORY_FILE, UNDATED_FILE, day_file
from pdm_assets.simulator.writer import write_bytes

# The leading datetime field of an event line, optionally quoted.
_DATETIME = re.compile(rb'^"?(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"?,')
_BOM = b"\xef\xbb\xbf"


@dataclass
class LandingSummary:
    """What `land_bulk` wrote, per dataset."""

    landing_dir: Path
    rows: dict[str, int] = field(default_factory=dict)  # data lines landed (all destinations)
    day_files: dict[str, int] = field(default_factory=dict)  # day files written
    history_rows: int = 0  # maint lines before first_day, in maint/history.csv
    undated: dict[str, int] = field(default_factory=dict)  # lines sent to <dataset>/_undated.csv
    before_first_day: dict[str, int] = field(default_factory=dict)  # non-maint lines before first_day
    empty_days: dict[str, int] = field(default_factory=dict)  # header-only day files added

    @property
    def warnings(self) -> list[str]:
        notes = [f"{n:,} {d} line(s) without a readable datetime: see {d}/{UNDATED_FILE}"
                 for d, n in self.undated.items() if n]
        notes += [f"{n:,} {d} line(s) dated before the first day" for d, n in self.before_first_day.items() if n]
        return notes

    def __str__(self) -> str:
        lines = [f"landed into {self.landing_dir}:"]
        for dataset, rows in self.rows.items():
            where = f"{self.day_files.get(dataset, 0):,} day file(s)" if dataset != MACHINES else MACHINES_FILE
            extra = f", {self.history_rows:,} in {MAINT_HISTORY_FILE}" if dataset == MAINT and self.history_rows else ""
            empty = f" (+{self.empty_days[dataset]:,} header-only)" if self.empty_days.get(dataset) else ""
            lines.append(f"  {dataset}: {rows:,} rows in {where}{empty}{extra}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def detect_dataset(header: bytes) -> str:
    """The dataset whose published columns the header line names (quotes optional)."""
    names = tuple(c.strip() for c in next(csv.reader([header.decode("utf-8", "replace").strip()]), []))
    for dataset, columns in COLUMNS.items():
        if names == columns:
            return dataset
    raise ValueError(f"header {names} matches no dataset; expected one of {sorted(COLUMNS.values())}")


def _line_day(line: bytes, cache: dict[bytes, Optional[date]]) -> Optional[date]:
    """The date of an event line's leading datetime, or None if it cannot be read."""
    match = _DATETIME.match(line)
    if not match:
        return None
    stamp = match.group(1)
    if stamp not in cache:  # telemetry repeats each timestamp once per machine
        try:
            cache[stamp] = datetime.fromisoformat(stamp.decode()).date()
        except ValueError:
            cache[stamp] = None
    return cache[stamp]


def land_bulk(paths: Iterable[str | Path], landing_dir: str | Path, first_day: date) -> LandingSummary:
    """Split bulk CSVs into `<landing>/<dataset>/<day>.csv` files (see the module docstring).

    The dataset of each file comes from its header. Maint lines before `first_day` go to
    `maint/history.csv`, machines to `machines/machines.csv`; other lines before `first_day`
    still get their day files and are counted as warnings. Existing files are replaced
    atomically; `_undated.csv` files are extended instead, so earlier undated lines stay visible.
    """
    landing = Path(landing_dir)
    headers: dict[str, bytes] = {}
    groups: dict[tuple[str, object], list[bytes]] = defaultdict(list)  # (dataset, day | tag) -> lines
    summary = LandingSummary(landing)
    cache: dict[bytes, Optional[date]] = {}
    for path in paths:
        raw = Path(path).read_bytes()
        lines = raw[len(_BOM):].split(b"\n") if raw.startswith(_BOM) else raw.split(b"\n")
        if not lines or not lines[0].strip():
            raise ValueError(f"{path}: empty file, no header line")
        dataset = detect_dataset(lines[0])
        headers.setdefault(dataset, lines[0])
        data = [line for line in lines[1:] if line.strip()]  # blank lines (e.g. the final \n) are not rows
        summary.rows[dataset] = summary.rows.get(dataset, 0) + len(data)
        if dataset == MACHINES:
            groups[(MACHINES, MACHINES)].extend(data)
            continue
        for line in data:
            day = _line_day(line, cache)
            if day is None:
                groups[(dataset, UNDATED_FILE)].append(line)
            elif dataset == MAINT and day < first_day:
                groups[(MAINT, MAINT_HISTORY_FILE)].append(line)
            else:
                groups[(dataset, day)].append(line)
    for (dataset, key), lines in groups.items():
        if key == MACHINES:
            target = landing / MACHINES_FILE
        elif key == MAINT_HISTORY_FILE:
            target, summary.history_rows = landing / MAINT_HISTORY_FILE, len(lines)
        elif key == UNDATED_FILE:
            target = landing / dataset / UNDATED_FILE
            summary.undated[dataset] = len(lines)
            lines = _merge_undated(target, lines)
        else:
            target = day_file(landing, dataset, key)
            summary.day_files[dataset] = summary.day_files.get(dataset, 0) + 1
            if key < first_day:
                summary.before_first_day[dataset] = summary.before_first_day.get(dataset, 0) + len(lines)
        write_bytes(target, headers[dataset] + b"\n" + b"".join(line + b"\n" for line in lines))
    _fill_empty_days(landing, headers, groups, first_day, summary)
    return summary


def _fill_empty_days(
    landing: Path, headers: dict[str, bytes], groups: dict, first_day: date, summary: LandingSummary
) -> None:
    """Give each landed event dataset a header-only file on its days without rows.

    A day with no failures is still a day that arrived: without its file the pipeline would
    wait for it forever. The range is first_day to the last day any landed file reaches; a file
    that already exists is kept (the bulk says nothing about that day).
    """
    days = [key for _, key in groups if isinstance(key, date)]
    if not days:
        return
    for dataset in headers.keys() - {MACHINES}:
        for ordinal in range(first_day.toordinal(), max(days).toordinal() + 1):
            day = date.fromordinal(ordinal)
            target = day_file(landing, dataset, day)
            if (dataset, day) not in groups and not target.exists():
                write_bytes(target, headers[dataset] + b"\n")
                summary.empty_days[dataset] = summary.empty_days.get(dataset, 0) + 1


def _merge_undated(target: Path, lines: list[bytes]) -> list[bytes]:
    """Lines already in `target` (without its header) followed by the new ones not yet there."""
    if not target.is_file():
        return lines
    kept = [line for line in target.read_bytes().split(b"\n")[1:] if line.strip()]
    seen = set(kept)
    return kept + [line for line in lines if line not in seen]
