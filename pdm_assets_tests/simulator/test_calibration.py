"""The published figures of DESIGN §6 hold on 100 machines x 365 days."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pdm_assets.simulator.calibrate import drift_z, targets
from pdm_assets.simulator.columns import COMPONENTS, ERROR_IDS, SIGNALS
from pdm_assets.simulator.params import HISTORY_DAYS

from .conftest import YEAR_START

TARGETS = targets(100, 365)


def _close(figures: dict, name: str, tolerance: float) -> None:
    measured, target = figures[name], TARGETS[name]
    assert abs(measured - target) <= tolerance * target, f"{name}: {measured:.2f} vs {target:.2f}"


@pytest.mark.parametrize("signal", SIGNALS)
def test_telemetry_mean_and_std_within_5_percent(year_figures, signal):
    _close(year_figures, f"{signal} mean", 0.05)
    _close(year_figures, f"{signal} std", 0.05)


@pytest.mark.parametrize("signal", SIGNALS)
def test_telemetry_extremes_are_plausible(year_figures, signal):
    # "roughly like the published ones": the distance from the mean within -40%..+50% of published
    for bound in ("min", "max"):
        published_gap = TARGETS[f"{signal} {bound}"] - TARGETS[f"{signal} mean"]
        gap = year_figures[f"{signal} {bound}"] - TARGETS[f"{signal} mean"]
        assert 0.6 < gap / published_gap < 1.5, (signal, bound, gap, published_gap)


def test_event_totals_within_10_percent(year_figures):
    for name in ("errors", "maint (incl. history)", "failures", "background errors"):
        _close(year_figures, name, 0.10)
    assert year_figures["maint history"] == 400
    assert year_figures["telemetry rows"] == 100 * 365 * 24


PER_TYPE = [*ERROR_IDS, *(f"maint {c}" for c in COMPONENTS), *(f"failures {c}" for c in COMPONENTS)]


@pytest.mark.parametrize("name", PER_TYPE)
def test_event_counts_per_type(year_figures, name):
    # Per type the counts are a few hundred events, so Poisson noise alone is 5-9%.
    _close(year_figures, name, 0.15)


def test_machines_follow_the_published_mix(year_frames):
    machines = year_frames["machines"]
    assert list(machines.machineID) == list(range(1, 101))
    assert machines.model.value_counts().to_dict() == {"model3": 35, "model4": 32, "model2": 17, "model1": 16}
    assert machines.age.between(0, 20).all() and machines.age.nunique() > 10


def test_failures_are_replacements_mostly_at_six(year_frames, year_figures):
    assert year_figures["failures with replacement %"] == 100.0
    hours = year_frames["failures"].datetime.dt.hour
    assert set(hours) == {3, 6} and 0.9 <= (hours == 6).mean() < 1.0
    assert (year_frames["maint"].datetime.dt.hour == 6).mean() > 0.98


def test_history_holds_the_latest_replacement_of_each_component(year_frames):
    history = year_frames["history"]
    assert len(history.drop_duplicates(["machineID", "comp"])) == len(history) == 400
    first = str(YEAR_START)
    assert (history.datetime < first).all()
    assert (history.datetime >= str(YEAR_START - timedelta(days=HISTORY_DAYS))).all()


@pytest.mark.parametrize("comp", COMPONENTS)
def test_paired_errors_precede_failures(year_figures, comp):
    assert year_figures[f"precursor {comp} %"] >= 90.0


def test_telemetry_drifts_before_failures_on_the_paired_signal_only(year_frames):
    drift = drift_z(year_frames["telemetry"], year_frames["failures"])
    paired = {"comp1": ("volt", 1), "comp2": ("rotate", -1), "comp3": ("pressure", 1), "comp4": ("vibration", 1)}
    for comp, (signal, sign) in paired.items():
        assert sign * drift.loc[comp, signal] > 1.0, (comp, drift.loc[comp].to_dict())
        others = drift.loc[comp].drop(signal)
        assert others.abs().max() < 0.2, (comp, others.to_dict())


def test_no_duplicate_keys(year_frames):
    # ingestion rejects duplicate keys, so the simulator must never produce one
    keys = {
        "telemetry": ["datetime", "machineID"],
        "errors": ["datetime", "machineID", "errorID"],
        "maint": ["datetime", "machineID", "comp"],
        "failures": ["datetime", "machineID", "failure"],
    }
    for dataset, key in keys.items():
        assert not year_frames[dataset].duplicated(key).any(), dataset
