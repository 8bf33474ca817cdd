"""Bulk landing of the published files: exact counts, every line once, byte for byte."""
from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from pdm_assets.simulator import land_bulk

PUBLISHED = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(PUBLISHED.glob("PdM_*.csv"))
FIRST_DAY = date(2020, 1, 1)


def _data_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n")[1:] if line]


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landed")
    return landing, land_bulk(FILES, landing, FIRST_DAY)


def test_published_files_land_with_exact_counts(landed):
    landing, summary = landed
    counts = {d: sum(len(_data_lines(p)) for p in (landing / d).glob("????-??-??.csv"))
              for d in ("errors", "failures", "maint")}
    history = len(_data_lines(landing / "maint/history.csv"))
    assert counts == {"errors": 3919, "failures": 761, "maint": 3286 - history}
    assert history == 400
    assert len(_data_lines(landing / "machines/machines.csv")) == 100
    assert summary.rows == {"errors": 3919, "failures": 761, "machines": 100, "maint": 3286}
    assert summary.history_rows == 400 and not summary.warnings


def test_every_line_lands_once_unchanged_under_its_header(landed):
    landing, _ = landed
    folders = {"PdM_errors.csv": "errors", "PdM_failures.csv": "failures",
               "PdM_maint.csv": "maint", "PdM_machines.csv": "machines"}
    for source in FILES:
        folder = landing / folders[source.name]
        header = source.read_bytes().split(b"\n")[0]
        landed_lines: Counter = Counter()
        for path in folder.glob("*.csv"):
            assert path.read_bytes().split(b"\n")[0] == header
            lines = _data_lines(path)
            if path.stem[:1].isdigit():  # a day file holds only its day
                assert all(line.startswith(path.stem.encode()) for line in lines)
            landed_lines.update(lines)
        assert landed_lines == Counter(_data_lines(source)), source.name


def test_days_without_rows_get_header_only_files(landed):
    landing, summary = landed
    days = sorted(p.stem for p in (landing / "failures").glob("????-??-??.csv"))
    assert days[0] == "2020-01-01" and days[-1] == "2021-01-01" and len(days) == 367
    assert summary.empty_days["failures"] == 367 - summary.day_files["failures"]


def test_undated_and_early_lines_are_kept_visible(tmp_path):
    bulk = tmp_path / "bulk.csv"
    lines = [b'2019-12-31 06:00:00,1,"error1"', b'2020-01-02 06:00:00,2,"error2"',
             b'not-a-date,3,"error3"', b'2020-02-30 06:00:00,4,"error4"']
    bulk.write_bytes(b'"datetime","machineID","errorID"\n' + b"\n".join(lines) + b"\n")
    landing = tmp_path / "landing"
    summary = land_bulk([bulk], landing, FIRST_DAY)
    assert summary.undated == {"errors": 2} and summary.before_first_day == {"errors": 1}
    assert len(summary.warnings) == 2
    undated = landing / "errors" / "_undated.csv"
    assert _data_lines(undated) == [lines[2], lines[3]]
    assert _data_lines(landing / "errors" / "2019-12-31.csv") == [lines[0]]
    # landing again replaces day files and does not repeat undated lines
    land_bulk([bulk], landing, FIRST_DAY)
    assert _data_lines(undated) == [lines[2], lines[3]]
    assert _data_lines(landing / "errors" / "2020-01-02.csv") == [lines[1]]


def test_unknown_header_is_refused(tmp_path):
    bulk = tmp_path / "other.csv"
    bulk.write_text('"a","b"\n1,2\n')
    with pytest.raises(ValueError, match="matches no dataset"):
        land_bulk([bulk], tmp_path / "landing", FIRST_DAY)
