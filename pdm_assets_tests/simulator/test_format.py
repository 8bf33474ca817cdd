"""Files look exactly like the published CSVs, one complete file per dataset and day."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from pdm_assets.simulator.writer import write_atomic, write_bytes

from .conftest import YEAR_START

STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:00:00"
NUMBER = r"\d+\.\d{1,6}|\d+"
LINES = {
    "telemetry": rf"^{STAMP},\d+(,({NUMBER})){{4}}$",
    "errors": rf'^{STAMP},\d+,"error[1-5]"$',
    "maint": rf'^{STAMP},\d+,"comp[1-4]"$',
    "failures": rf'^{STAMP},\d+,"comp[1-4]"$',
    "machines": r'^\d+,"model[1-4]",\d+$',
}
PUBLISHED = Path(__file__).resolve().parents[1] / "data"


def _lines(path: Path) -> list[str]:
    text = path.read_text()
    assert text.endswith("\n") and "\r" not in text
    return text[:-1].split("\n")


def test_headers_match_the_published_files(year_landing):
    for dataset, published in (("errors", "PdM_errors.csv"), ("maint", "PdM_maint.csv"),
                               ("failures", "PdM_failures.csv"), ("machines", "PdM_machines.csv")):
        expected = _lines(PUBLISHED / published)[0]
        folder = year_landing / dataset
        for path in [*folder.glob("*.csv")][:5]:
            assert _lines(path)[0] == expected, path
    assert _lines(year_landing / "telemetry/2015-01-01.csv")[0] == (
        '"datetime","machineID","volt","rotate","pressure","vibration"'
    )


@pytest.mark.parametrize("dataset", ["telemetry", "errors", "maint", "failures"])
def test_every_day_has_a_file_with_published_quoting(year_landing, dataset):
    files = sorted((year_landing / dataset).glob("????-??-??.csv"))
    assert [f.stem for f in files] == [date.fromordinal(YEAR_START.toordinal() + i).isoformat() for i in range(365)]
    pattern = re.compile(LINES[dataset])
    for path in files[::30]:
        for line in _lines(path)[1:]:
            assert pattern.match(line), (path.name, line)
            assert line.startswith(path.stem)  # every row belongs to its file's day


def test_machines_and_history_format(year_landing):
    machines = _lines(year_landing / "machines/machines.csv")
    assert len(machines) == 101 and all(re.match(LINES["machines"], line) for line in machines[1:])
    history = _lines(year_landing / "maint/history.csv")
    assert history[0] == '"datetime","machineID","comp"' and all(re.match(LINES["maint"], line) for line in history[1:])


def test_telemetry_day_has_24_hourly_readings_per_machine_in_published_order(year_landing):
    rows = [line.split(",") for line in _lines(year_landing / "telemetry/2015-06-15.csv")[1:]]
    assert len(rows) == 100 * 24
    keys = [(int(r[1]), r[0]) for r in rows]
    assert keys == sorted(keys)  # machineID, then datetime
    assert {r[0][11:13] for r in rows} == {f"{h:02d}" for h in range(24)}


def test_a_day_without_events_is_a_header_only_file(year_landing):
    sizes = [len(_lines(p)) for p in (year_landing / "failures").glob("????-??-??.csv")]
    assert min(sizes) == 1  # header only: the day arrived, nothing failed


def test_no_temp_files_are_left(year_landing):
    assert not [p for p in year_landing.rglob(".*")]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "errors" / "2015-01-01.csv"
    write_bytes(target, b"old\n")

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in target.parent.iterdir()] == ["2015-01-01.csv"]


def test_event_days_are_sorted_like_the_published_files(year_landing):
    for dataset in ("errors", "maint"):
        for path in sorted((year_landing / dataset).glob("*.csv"))[::45]:
            rows = [line.split(",") for line in _lines(path)[1:]]
            keys = [(int(r[1]), r[0], r[2]) for r in rows]
            assert keys == sorted(keys), path
