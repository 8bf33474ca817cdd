"""The landing zone: where the day files of each dataset arrive."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Sequence

from dagster import ConfigurableResource

from pdm_assets.pipeline import landing_files
from pdm_assets.pipeline.landing_files import LandingFile


class LandingZoneResource(ConfigurableResource):
    """A folder of `<dataset>/<YYYY-MM-DD>.csv` files, plus machines and maintenance history."""

    landing_dir: str

    def day_files(self, dataset: str, days: Sequence[date]) -> list[LandingFile]:
        return landing_files.day_files(self.landing_dir, dataset, days)

    def machines_file(self) -> LandingFile:
        path = Path(self.landing_dir) / landing_files.MACHINES_FILE
        if not path.is_file():
            raise landing_files.MissingLandingFileError(f"Missing landing file for dataset 'machines': {path}")
        return LandingFile(str(path), None)

    def history_file(self) -> LandingFile | None:
        path = Path(self.landing_dir) / landing_files.MAINT_HISTORY_FILE
        return LandingFile(str(path), None) if path.is_file() else None

    def arrived_days(self, dataset: str) -> list[date]:
        return landing_files.arrived_days(self.landing_dir, dataset)
