"""One calibration-sized run (100 machines x 365 days, ~5 s) shared by the simulator tests."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pdm_assets.simulator import generate
from pdm_assets.simulator.calibrate import load, measure

YEAR_START = date(2015, 1, 1)


@pytest.fixture(scope="session")
def year_landing(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("year") / "landing"
    generate(landing, machines=100, start=YEAR_START, days=365, seed=42, progress=False)
    return landing


@pytest.fixture(scope="session")
def year_frames(year_landing) -> dict[str, pd.DataFrame]:
    return load(year_landing)


@pytest.fixture(scope="session")
def year_figures(year_frames) -> dict[str, float]:
    return measure(year_frames)
