"""Landing CSVs parse into typed rows; every bad line is kept with its file, line and reason."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pdm_assets.pipeline.ingest import MissingColumnError, parse_files
from pdm_assets.pipeline.landing_files import LandingFile, MissingLandingFileError, day_files
from pdm_assets.pipeline.schemas import ERRORS, MACHINES, MAINT, TELEMETRY, raw_schema

DAY = date(2015, 1, 5)
NOW = datetime(2026, 1, 1, 12, 0, 0)
TELEMETRY_HEADER = '"datetime","machineID","volt","rotate","pressure","vibration"'


def _write(path: Path, lines: list[str], newline: str = "\n") -> LandingFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(lines) + newline)
    return LandingFile(str(path), DAY if path.stem != "history" else None)


@pytest.fixture
def machines() -> set[int]:
    return {1, 2}


def test_every_bad_line_is_rejected_with_its_line_and_reason(spark, tmp_path, machines):
    f = _write(tmp_path / "telemetry" / "2015-01-05.csv", [
        TELEMETRY_HEADER,
        "2015-01-05 00:00:00,1,170.5,450.0,100.0,40.0",     # 2 valid
        "2015-01-05 01:00:00,1,abc,450.0,100.0,40.0",       # 3 bad double
        "2015-01-05 01:00:00,7,170.5,450.0,100.0,40.0",     # 4 unknown machine
        "2015-01-06 00:00:00,1,170.5,450.0,100.0,40.0",     # 5 outside partition
        "2015-01-05 00:00:00,1,171.0,450.0,100.0,40.0",     # 6 duplicate of line 2
        ",2,170.5,450.0,100.0,40.0",                        # 7 empty datetime
        "2015-01-05 02:00:00,2,170.5,450.0,100.0",          # 8 missing field
        "2015-01-05 03:00:00,x,170.5,450.0,NaN,40.0",       # 9 bad int and NaN
        "2015-01-05 04:00:00,2,170.5,450.0,100.0,40.0",     # 10 valid
    ])
    batch = parse_files(spark, TELEMETRY, [f], machines, NOW)
    reasons = {r["line_number"]: r["reason"] for r in batch.rejects.collect()}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9}
    assert reasons[3] == "volt: 'abc' is not a finite number"
    assert reasons[4] == "machineID 7 is not a known machine"
    assert reasons[5] == "datetime 2015-01-06 00:00:00 is outside partition 2015-01-05"
    assert reasons[6] == f"duplicate key of {f.path}:2"
    assert reasons[7] == "datetime: empty"
    assert reasons[8].startswith("line has 5 fields, header has 6")
    assert "machineID: 'x' is not an integer" in reasons[9] and "pressure: 'NaN' is not a finite number" in reasons[9]
    rejected = batch.rejects.where("line_number = 3").first()
    assert rejected["line"] == "2015-01-05 01:00:00,1,abc,450.0,100.0,40.0" and rejected["source_file"] == f.path
    valid = batch.valid.orderBy("datetime").collect()
    assert [(r["datetime"], r["machine_id"], r["volt"]) for r in valid] == [
        (datetime(2015, 1, 5, 0), 1, 170.5), (datetime(2015, 1, 5, 4), 2, 170.5)]
    assert batch.valid.schema.fieldNames() == raw_schema(TELEMETRY).fieldNames()
    assert {r["date"] for r in valid} == {DAY} and {r["ingested_at"] for r in valid} == {NOW}
    batch.release()


def test_the_next_day_and_a_later_ingestion_time_compile_nothing_new(spark, tmp_path, machines, compiled_classes):
    def ingest_day(day: date, now: datetime) -> list:
        path = tmp_path / "telemetry" / f"{day.isoformat()}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{TELEMETRY_HEADER}\n{day} 00:00:00,1,170.5,450.0,100.0,40.0\n")
        batch = parse_files(spark, TELEMETRY, [LandingFile(str(path), day)], machines, now)
        try:
            return batch.valid.collect()
        finally:
            batch.release()

    assert ingest_day(DAY, NOW)[0]["ingested_at"] == NOW
    before = compiled_classes()
    later = datetime(2026, 1, 2, 7, 30, 0)
    assert ingest_day(date(2015, 1, 6), later)[0]["ingested_at"] == later
    assert compiled_classes() == before


def test_quoted_categories_crlf_and_reordered_columns(spark, tmp_path, machines):
    f = _write(tmp_path / "errors" / "2015-01-05.csv", [
        '"machineID","datetime","errorID"',
        '1,2015-01-05 06:00:00,"error1"',
        '2,2015-01-05 07:00:00,"error9"',
    ], newline="\r\n")
    batch = parse_files(spark, ERRORS, [f], machines, NOW)
    assert [(r["machine_id"], r["error_id"]) for r in batch.valid.collect()] == [(1, "error1")]
    assert [r["reason"] for r in batch.rejects.collect()] == [
        "errorID: 'error9' is not one of error1/error2/error3/error4/error5"]


def test_a_missing_column_names_the_file_and_the_column(spark, tmp_path, machines):
    f = _write(tmp_path / "telemetry" / "2015-01-05.csv",
               ['"datetime","machineID","volt","rotate","pressure"', "2015-01-05 00:00:00,1,1,2,3"])
    with pytest.raises(MissingColumnError, match=r"2015-01-05\.csv, line 1: missing column 'vibration'"):
        parse_files(spark, TELEMETRY, [f], machines, NOW)


def test_a_missing_day_file_names_the_file(tmp_path):
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "2015-01-05.csv").write_text('"datetime","machineID","errorID"\n')
    with pytest.raises(MissingLandingFileError, match=r"errors.*2015-01-06\.csv"):
        day_files(tmp_path, "errors", [date(2015, 1, 5), date(2015, 1, 6)])


def test_history_rows_must_precede_the_first_partition(spark, tmp_path, machines):
    f = _write(tmp_path / "maint" / "history.csv", [
        '"datetime","machineID","comp"', '2014-12-31 06:00:00,1,"comp2"', '2015-01-05 06:00:00,1,"comp1"'])
    batch = parse_files(spark, MAINT, [f], machines, NOW, before_day=DAY)
    assert [r["comp"] for r in batch.valid.collect()] == ["comp2"]
    assert "date" not in batch.valid.columns
    assert [r["reason"] for r in batch.rejects.collect()] == [
        "datetime 2015-01-05 06:00:00 is not before the first partition 2015-01-05"]


def test_machines_duplicate_ids_and_bad_models(spark, tmp_path):
    f = _write(tmp_path / "machines" / "machines.csv", [
        '"machineID","model","age"', '1,"model3",18', '1,"model4",7', '2,"model9",3', '3,"model1",'])
    f = LandingFile(f.path, None)
    batch = parse_files(spark, MACHINES, [f], None, NOW)
    assert [r["machine_id"] for r in batch.valid.collect()] == [1]
    reasons = sorted(r["reason"] for r in batch.rejects.collect())
    assert reasons == ["age: empty", f"duplicate key of {f.path}:2",
                       "model: 'model9' is not one of model1/model2/model3/model4"]
