"""`pdm-simulate` through `main([...])`, and the default landing folder."""
from __future__ import annotations

import json
from pathlib import Path

from pdm_assets.simulator import default_landing_dir
from pdm_assets.simulator.cli import main

PUBLISHED = Path(__file__).resolve().parents[1] / "data"


def test_generate_then_append(tmp_path, capsys):
    landing = tmp_path / "landing"
    args = ["--landing", str(landing), "--no-progress"]
    assert main(["generate", "--machines", "5", "--start", "2015-01-01", "--days", "3", "--seed", "1", *args]) == 0
    assert "3 day(s) written" in capsys.readouterr().out
    assert main(["append", "--days", "2", *args]) == 0
    manifest = json.loads((landing / "_simulator.json").read_text())
    assert manifest["seed"] == 1 and manifest["machines"] == 5
    assert (manifest["first_day"], manifest["last_day"]) == ("2015-01-01", "2015-01-05")
    assert (landing / "telemetry" / "2015-01-05.csv").is_file()


def test_generate_until_yesterday_uses_the_default_landing(pdm_home, capsys):
    assert main(["generate", "--machines", "2", "--start", "yesterday", "--until", "yesterday", "--no-progress"]) == 0
    assert len(list((pdm_home / "landing" / "telemetry").glob("*.csv"))) == 1


def test_land(tmp_path, capsys):
    code = main(["land", str(PUBLISHED / "PdM_failures.csv"), "--first-day", "2020-01-01", "--landing", str(tmp_path)])
    assert code == 0
    assert "failures: 761 rows" in capsys.readouterr().out


def test_bad_arguments_exit_2(tmp_path, capsys):
    landing = ["--landing", str(tmp_path)]
    assert main(["append", *landing]) == 2
    assert "no simulator manifest" in capsys.readouterr().err
    assert main(["generate", "--start", "2015-02-30", *landing]) == 2
    assert main(["generate", "--start", "2015-02-01", "--until", "2015-01-01", *landing]) == 2
    assert main(["generate", "--days", "0", *landing]) == 2
    assert main(["land", str(tmp_path / "missing.csv"), "--first-day", "2020-01-01", *landing]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0


def test_default_landing_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PDM_LANDING_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("PDM_HOME", str(tmp_path / "home"))
    assert default_landing_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PDM_LANDING_DIR")
    assert default_landing_dir() == tmp_path / "home" / "landing"
    monkeypatch.delenv("PDM_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_landing_dir() == tmp_path / ".pdm_assets" / "landing"
