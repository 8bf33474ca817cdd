"""Same seed, same bytes; and a timeline extended day by day equals one generated at once."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pdm_assets.simulator import append, generate
from pdm_assets.simulator.simulate import ManifestError, read_manifest

START = date(2015, 3, 1)
SMALL = dict(machines=20, start=START, progress=False)


def snapshot(landing: Path) -> dict[str, bytes]:
    """Every file under `landing` by relative path."""
    return {str(p.relative_to(landing)): p.read_bytes() for p in sorted(landing.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(tmp_path / "a", days=4, seed=7, **SMALL)
    generate(tmp_path / "b", days=4, seed=7, **SMALL)
    generate(tmp_path / "c", days=4, seed=8, **SMALL)
    a, b, c = (snapshot(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert a["telemetry/2015-03-01.csv"] != c["telemetry/2015-03-01.csv"]
    assert a["machines/machines.csv"] != c["machines/machines.csv"]


def test_append_equals_one_shot_generation(tmp_path):
    generate(tmp_path / "once", days=20, **SMALL)
    generate(tmp_path / "steps", days=10, **SMALL)
    append(tmp_path / "steps", days=4)
    append(tmp_path / "steps", days=1)
    summary = append(tmp_path / "steps", days=5)
    assert summary.days_written == 5 and summary.last_day == START + timedelta(days=19)
    once, steps = snapshot(tmp_path / "once"), snapshot(tmp_path / "steps")
    assert once == steps
    # not vacuous: failures happen after the first chunk ended, so their precursors were
    # written into days generated before the failure day existed
    late = [k for k, v in once.items() if "failures/2015-03-11" <= k < "failures/_" and v.count(b"\n") > 1]
    assert late


def test_until_and_append_until(tmp_path):
    generate(tmp_path / "days", days=9, **SMALL)
    generate(tmp_path / "until", until=START + timedelta(days=8), **SMALL)
    assert snapshot(tmp_path / "days") == snapshot(tmp_path / "until")
    generate(tmp_path / "short", days=3, **SMALL)
    assert append(tmp_path / "short", until=START + timedelta(days=8)).days_written == 6
    assert snapshot(tmp_path / "short") == snapshot(tmp_path / "days")
    # nothing to do when the timeline already reaches `until`
    again = append(tmp_path / "short", until=START + timedelta(days=5))
    assert again.days_written == 0 and snapshot(tmp_path / "short") == snapshot(tmp_path / "days")


def test_manifest_records_the_timeline(tmp_path):
    generate(tmp_path, days=2, seed=3, **SMALL)
    manifest = read_manifest(tmp_path)
    assert manifest == {"seed": 3, "machines": 20, "first_day": "2015-03-01", "last_day": "2015-03-02", "version": 1}


def test_append_refuses_a_timeline_of_another_simulator_version(tmp_path):
    generate(tmp_path, days=1, **SMALL)
    manifest = tmp_path / "_simulator.json"
    manifest.write_text(manifest.read_text().replace('"version": 1', '"version": 0'))
    with pytest.raises(ManifestError, match="version 0"):
        append(tmp_path)


def test_append_without_manifest_fails_clearly(tmp_path):
    with pytest.raises(ManifestError, match="no simulator manifest"):
        append(tmp_path)
    (tmp_path / "_simulator.json").write_text("{not json")
    with pytest.raises(ManifestError, match="unreadable"):
        append(tmp_path)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, days=0, progress=False)
    with pytest.raises(ValueError):
        generate(tmp_path, start=START, until=START - timedelta(days=1), progress=False)
