"""The Parquet table store replaces exactly its days and never loses the previous version."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date

import pytest
from pyspark.sql import functions as F

from pdm_assets.resources.table_store import ParquetTableStore, TableNotFoundError

D1, D2, D3 = date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)


def _frame(spark, rows):
    return spark.createDataFrame(rows, "machine_id int, value string, date date")


def _rows(store, spark, table="t", days=None):
    return sorted(tuple(r) for r in store.read(spark, table, days).collect())


def test_rewriting_one_day_replaces_exactly_that_day(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1), (1, "b", D2), (1, "c", D3)]), "t", [D1, D2, D3])
    store.write(_frame(spark, [(2, "new", D2)]), "t", [D2])
    assert _rows(store, spark) == [(1, "a", D1), (1, "c", D3), (2, "new", D2)]
    assert _rows(store, spark, days=[D2, D3]) == [(1, "c", D3), (2, "new", D2)]


def test_a_day_with_no_rows_still_replaces_the_old_day(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    store.write(_frame(spark, [(1, "a2", D1)]), "t", [D1, D2])
    assert _rows(store, spark) == [(1, "a2", D1)]
    assert store.existing_days("t") == [D1, D2]


def test_writing_empty_days_replaces_them_without_a_spark_job(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    frame = _frame(spark, [(1, "a", D1), (1, "b", D2)])
    store.write(frame, "t", [D1, D2])
    store.write_empty_days("t", frame.schema, [D2, D3])
    assert _rows(store, spark) == [(1, "a", D1)]
    assert store.existing_days("t") == [D1, D2, D3]
    assert store.read(spark, "t", [D3]).schema == frame.schema
    with pytest.raises(ValueError, match="partitioned schema"):
        store.write_empty_days("t", frame.drop("date").schema, [D1])


def test_rows_outside_the_written_days_are_refused_and_nothing_changes(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1)]), "t", [D1])
    with pytest.raises(ValueError, match="outside the partitions"):
        store.write(_frame(spark, [(1, "x", D1), (1, "y", D3)]), "t", [D1])
    assert _rows(store, spark) == [(1, "a", D1)]
    assert not any((tmp_path / "t" / ".staging").iterdir())


def test_a_spark_job_failing_mid_write_leaves_the_previous_version(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    failing = _frame(spark, [(1, "x", D1), (2, "boom", D2)]).withColumn(
        "value", F.when(F.col("value") == "boom", F.raise_error(F.lit("injected failure"))).otherwise(F.col("value"))
    )
    with pytest.raises(Exception, match="injected failure"):
        store.write(failing, "t", [D1, D2])
    assert _rows(store, spark) == [(1, "a", D1), (1, "b", D2)]


def test_a_process_killed_between_swaps_leaves_the_previous_version_readable(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "old1", D1), (1, "old2", D2)]), "t", [D1, D2])
    # A second writer stages new versions of both days and is killed (os._exit) after moving the
    # first old day aside and before moving the new one in: the worst moment of the swap.
    script = textwrap.dedent(
        f"""
        import shutil
        from pathlib import Path
        from pdm_assets.resources.table_store import ParquetTableStore
        store = ParquetTableStore({str(tmp_path)!r})
        root = store.path("t")
        staging = root / ".staging" / "killed"
        for unit in ("date=2015-01-01", "date=2015-01-02"):
            shutil.copytree(root / unit, staging / unit)  # stands in for the new version
        with store._locked("t"):
            store._swap_in(root, staging, ["date=2015-01-01", "date=2015-01-02"])
        """
    )
    env = {**os.environ, "PDM_TEST_CRASH_AT": "between_renames"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 137, done.stderr
    assert not (tmp_path / "t" / "date=2015-01-01").exists()  # the kill really hit mid-swap
    assert _rows(store, spark) == [(1, "old1", D1), (1, "old2", D2)]
    assert not list((tmp_path / "t" / ".txn").iterdir())


def test_a_kill_after_swapping_in_a_new_day_rolls_that_day_back(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "old2", D2)]), "t", [D2])
    script = textwrap.dedent(
        f"""
        import shutil
        from pdm_assets.resources.table_store import ParquetTableStore
        store = ParquetTableStore({str(tmp_path)!r})
        root = store.path("t")
        staging = root / ".staging" / "killed"
        shutil.copytree(root / "date=2015-01-02", staging / "date=2015-01-01")  # a day that did not exist
        shutil.copytree(root / "date=2015-01-02", staging / "date=2015-01-02")
        with store._locked("t"):
            store._swap_in(root, staging, ["date=2015-01-01", "date=2015-01-02"])
        """
    )
    env = {**os.environ, "PDM_TEST_CRASH_AT": "after_first_swap"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 137, done.stderr
    assert (tmp_path / "t" / "date=2015-01-01").exists()  # the uncommitted new day was live for a moment
    assert _rows(store, spark) == [(1, "old2", D2)]
    assert store.existing_days("t") == [D2]


def test_whole_tables_and_missing_tables(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    with pytest.raises(TableNotFoundError, match="'machines' has not been written"):
        store.read(spark, "machines")
    store.write(spark.createDataFrame([(1, "model3")], "machine_id int, model string"), "machines")
    store.write(spark.createDataFrame([(2, "model1")], "machine_id int, model string"), "machines")
    assert [tuple(r) for r in store.read(spark, "machines").collect()] == [(2, "model1")]


def test_a_whole_table_with_a_date_column_reads_back_whole(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1), (2, "b", D2)]), "whole")
    assert _rows(store, spark, "whole") == [(1, "a", D1), (2, "b", D2)]


def test_reading_days_never_written_gives_an_empty_typed_frame(spark, tmp_path):
    store = ParquetTableStore(tmp_path)
    store.write(_frame(spark, [(1, "a", D1)]), "t", [D1])
    empty = store.read(spark, "t", [D3])
    assert empty.count() == 0 and empty.columns == ["machine_id", "value", "date"]


def test_many_small_day_files_read_with_arrow_give_what_spark_reads(spark, tmp_path, monkeypatch):
    from datetime import datetime, timedelta

    from pdm_assets.resources import table_store

    days = [D1 + timedelta(days=i) for i in range(5)]
    rows = [(i, datetime(2015, 1, 1, 6) + timedelta(days=i, microseconds=7), "comp1" if i % 2 else None,
             0.1 * i if i else None, day) for i, day in enumerate(days)]
    frame = spark.createDataFrame(rows, "machine_id int, datetime timestamp, comp string, volt double, date date")
    store = ParquetTableStore(tmp_path)
    store.write(frame, "t", days)
    monkeypatch.setattr(table_store, "MANY_FILES", 10**6)  # Spark reads
    by_spark = store.read(spark, "t", days)
    monkeypatch.setattr(table_store, "MANY_FILES", 2)  # five day files: read here with Arrow
    by_arrow = store.read(spark, "t", days)
    assert "LocalRelation" in by_arrow._jdf.queryExecution().analyzed().toString()  # it took the Arrow path
    assert by_arrow.schema == by_spark.schema
    assert sorted(by_arrow.collect()) == sorted(by_spark.collect()) == sorted(frame.collect())
    assert sorted(store.read(spark, "t", days[1:3]).collect()) == sorted(frame.collect())[1:3]


def test_the_stored_schema_is_what_the_files_carry_even_from_another_writer(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pdm_assets.pipeline.quality import schema_differences

    store = ParquetTableStore(tmp_path)
    store.write(spark.createDataFrame([("7", "a", D1)], "machine_id string, value string, date date"), "t", [D1])
    contract = _frame(spark, []).schema
    assert schema_differences(store.stored_schema(spark, "t", [D1]), contract) == [
        "column machine_id is string, contract says int"]
    # A day file written by another tool has no Spark schema in its footer: Spark reads the file.
    day = tmp_path / "t" / "date=2015-01-02"
    day.mkdir()
    pq.write_table(pa.table({"machine_id": pa.array([1], pa.int64()), "value": ["b"]}), day / "part-0.parquet")
    assert schema_differences(store.stored_schema(spark, "t", [D2]), contract) == [
        "column machine_id is bigint, contract says int"]
