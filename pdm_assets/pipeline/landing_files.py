"""Landing-zone file naming: which file holds which dataset and day, and its header."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Optional, Sequence

from pdm_assets.pipeline.text import first_few

DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv$")
MACHINES_FILE = "machines/machines.csv"
MAINT_HISTORY_FILE = "maint/history.csv"


class MissingLandingFileError(FileNotFoundError):
    """A day file the run needs has not arrived."""


@dataclass(frozen=True)
class LandingFile:
    """One landing CSV and the partition day it belongs to (None for undated files)."""

    path: str
    day: Optional[date]

    @property
    def uri(self) -> str:
        return Path(self.path).resolve().as_uri()


def day_file(landing_dir: str | Path, dataset: str, day: date) -> Path:
    """Where the file of one dataset and day lands."""
    return Path(landing_dir) / dataset / f"{day.isoformat()}.csv"


def day_files(landing_dir: str | Path, dataset: str, days: Sequence[date]) -> list[LandingFile]:
    """The files of `days`, failing with every missing file named if any has not arrived."""
    files = [day_file(landing_dir, dataset, d) for d in days]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise MissingLandingFileError(f"Missing landing file(s) for dataset '{dataset}': {first_few(missing)}")
    return [LandingFile(str(f), d) for f, d in zip(files, days)]


def arrived_days(landing_dir: str | Path, dataset: str) -> list[date]:
    """Days whose file of `dataset` is complete (temp files are dot-prefixed and never match)."""
    folder = Path(landing_dir) / dataset
    if not folder.is_dir():
        return []
    return sorted(date.fromisoformat(m.group(1)) for p in folder.iterdir() if (m := DAY_FILE.match(p.name)))


def read_header(path: str | Path) -> list[str]:
    """Column names from the first line of a CSV (quotes removed)."""
    with open(path, newline="", encoding="utf-8") as handle:
        first = handle.readline()
    return [c.strip() for c in next(csv.reader([first]), [])]
