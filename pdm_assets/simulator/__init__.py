"""Dagster-free simulator of the Azure predictive-maintenance data set (CLI: `pdm-simulate`).

It writes per-day landing files (DESIGN §3) calibrated to the published figures (DESIGN §6),
deterministically from a seed; it can extend a timeline day by day, and land published bulk CSVs.
"""
from pdm_assets.simulator.events import RegimeChange
from pdm_assets.simulator.landing import LandingSummary, land_bulk
from pdm_assets.simulator.paths import default_landing_dir
from pdm_assets.simulator.simulate import SimulationSummary, append, generate

__all__ = ["LandingSummary", "RegimeChange", "SimulationSummary", "append", "default_landing_dir", "generate", "land_bulk"]
