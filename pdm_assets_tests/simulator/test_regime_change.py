"""A regime change: from its day, one machine model's failures are announced as another component's."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from pdm_assets.simulator import RegimeChange, append, generate
from pdm_assets.simulator.cli import main as simulate_cli
from pdm_assets.simulator.params import PRECURSOR_ERRORS
from pdm_assets.simulator.paths import MANIFEST_FILE
from pdm_assets.simulator.simulate import read_manifest
from pdm_assets_tests.simulator.test_determinism import snapshot

START = date(2015, 3, 1)
CHANGE = RegimeChange(date(2015, 3, 21), ("model3",))
SMALL = dict(machines=40, start=START, days=40, seed=5, progress=False)


def _read_all(folder) -> pd.DataFrame:
    frames = [pd.read_csv(p, parse_dates=["datetime"]) for p in sorted(folder.glob("*.csv"))]
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def _day(key: str) -> date:
    return date.fromisoformat(key.rsplit("/", 1)[-1].removesuffix(".csv"))


def test_before_the_change_nothing_differs_and_after_it_only_how_failures_are_announced(tmp_path):
    generate(tmp_path / "same", **SMALL)
    generate(tmp_path / "changed", regime_change=CHANGE, **SMALL)
    same, changed = snapshot(tmp_path / "same"), snapshot(tmp_path / "changed")
    differing = {k for k in same if same[k] != changed[k]} - {MANIFEST_FILE}
    assert differing and all(k.split("/")[0] in ("errors", "telemetry") for k in differing)
    # drift and precursors of failures from the change day start up to 60 h before it
    assert min(_day(k) for k in differing) >= CHANGE.day - timedelta(days=3)

    landing = tmp_path / "changed"
    machines = pd.read_csv(landing / "machines" / "machines.csv")
    model3 = set(machines.loc[machines.model == "model3", "machineID"])
    failures, errors = _read_all(landing / "failures"), _read_all(landing / "errors")
    later = failures[(failures.datetime >= pd.Timestamp(CHANGE.day)) & failures.machineID.isin(model3)]
    assert len(later) >= 3
    shifted = 0
    for failure in later.itertuples():
        component = int(failure.failure.removeprefix("comp")) - 1
        before = errors[(errors.machineID == failure.machineID)
                        & (errors.datetime == failure.datetime - pd.Timedelta(hours=24))]
        announced = {int(e.removeprefix("error")) - 1 for e in before.errorID}
        shifted += bool(announced & set(PRECURSOR_ERRORS[(component + 1) % 4]))
        assert not announced & set(PRECURSOR_ERRORS[component]) - set(PRECURSOR_ERRORS[(component + 1) % 4])
    assert shifted >= len(later) - 1  # precursors are emitted with probability 0.96-0.99
    other = errors[~errors.machineID.isin(model3)]
    same_errors = _read_all(tmp_path / "same" / "errors")
    assert other.reset_index(drop=True).equals(same_errors[~same_errors.machineID.isin(model3)].reset_index(drop=True))


def test_append_continues_the_regime_the_manifest_keeps(tmp_path):
    generate(tmp_path / "once", regime_change=CHANGE, **SMALL)
    generate(tmp_path / "steps", regime_change=CHANGE, **{**SMALL, "days": 15})
    append(tmp_path / "steps", days=25)
    assert read_manifest(tmp_path / "steps")["regime_change"] == {"day": "2015-03-21", "machine_models": ["model3"],
                                                                  "shift": 1}
    assert snapshot(tmp_path / "once") == snapshot(tmp_path / "steps")


def test_a_regime_change_is_given_on_the_command_line_and_checked(tmp_path, capsys):
    assert simulate_cli(["generate", "--landing", str(tmp_path / "l"), "--machines", "5", "--days", "3",
                         "--no-progress", "--regime-change", "2015-01-02:model1,model4:2"]) == 0
    assert read_manifest(tmp_path / "l")["regime_change"] == {"day": "2015-01-02", "machine_models": ["model1", "model4"],
                                                              "shift": 2}
    assert simulate_cli(["generate", "--landing", str(tmp_path / "m"), "--regime-change", "2015-01-02:model9"]) == 2
    assert "machine models must be some of model1, model2, model3, model4, got model9" in capsys.readouterr().err
    with pytest.raises(ValueError, match="changes nothing"):
        RegimeChange(date(2015, 1, 2), ("model1",), shift=4)
