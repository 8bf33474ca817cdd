"""The Delta table store replaces exactly its days in one commit, refuses what would corrupt a table, and names it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pyspark.sql import functions as F

from pdm_assets.storage import delta_log
from pdm_assets.storage.catalogs import UnityCatalog
from pdm_assets.storage.delta_store import LEDGER, DeltaTableStore, replace_where
from pdm_assets.storage.errors import RowsOutsideDaysError, SchemaMismatchError, TableNotFoundError
from pdm_assets.storage.local_tables import register_tables
from pdm_assets_tests.storage.helpers import D1, D2, D3, frame



def _rows(store, spark, table="t", days=None, version=None):
    return sorted(tuple(r) for r in store.read(spark, table, days, version).collect())


def _commits(store, table="t"):
    return delta_log.current_version(store.where(table))


def test_rewriting_one_day_replaces_exactly_that_day_in_one_commit(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    first = store.write(frame(spark, [(1, "a", D1), (1, "b", D2), (1, "c", D3)]), "t", [D1, D2, D3])
    second = store.write(frame(spark, [(2, "new", D2)]), "t", [D2])
    assert second.version == first.version + 1 == _commits(store)  # one commit per write
    assert _rows(store, spark) == [(1, "a", D1), (1, "c", D3), (2, "new", D2)]
    assert _rows(store, spark, days=[D2, D3]) == [(1, "c", D3), (2, "new", D2)]
    # the version a write reports is what a user reads back with versionAsOf
    assert _rows(store, spark, version=first.version) == [(1, "a", D1), (1, "b", D2), (1, "c", D3)]


def test_a_day_without_rows_still_replaces_the_old_day_and_counts_as_written(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    store.write(frame(spark, [(1, "a2", D1)]), "t", [D1, D2])
    assert _rows(store, spark) == [(1, "a2", D1)]
    assert store.existing_days("t") == [D1, D2]  # D2 was written, with no rows: recorded in the ledger
    assert [r["date"] for r in store.read(spark, LEDGER).where(F.col("table_name") == "t").collect()] == [D2]


def test_empty_days_cost_no_commit_unless_rows_must_go(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    rows = frame(spark, [(1, "a", D1), (1, "b", D2)])
    store.write(rows, "t", [D1, D2])
    before = _commits(store)
    assert store.write_empty_days(spark, "t", rows.schema, [D3]).version is None
    assert _commits(store) == before and store.existing_days("t") == [D1, D2, D3]
    assert store.write_empty_days(spark, "t", rows.schema, [D2]).version == before + 1
    assert _rows(store, spark) == [(1, "a", D1)]
    assert store.read(spark, "t", [D3]).schema == store.read(spark, "t").schema
    with pytest.raises(ValueError, match="partitioned schema"):
        store.write_empty_days(spark, "t", rows.drop("date").schema, [D1])


def test_rows_outside_the_written_days_are_refused_and_nothing_changes(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1)]), "t", [D1])
    before = _commits(store)
    with pytest.raises(RowsOutsideDaysError, match=r"pdm\.t: the rows written include days other than the 2015-01-01"):
        store.write(frame(spark, [(1, "x", D1), (1, "y", D3)]), "t", [D1])
    assert _rows(store, spark) == [(1, "a", D1)] and _commits(store) == before
    # also on the very first write of a table
    with pytest.raises(RowsOutsideDaysError):
        store.write(frame(spark, [(1, "y", D3)]), "fresh", [D1])
    assert _rows(store, spark, "fresh") == []


def test_a_spark_job_failing_mid_write_leaves_the_previous_version(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    failing = frame(spark, [(1, "x", D1), (2, "boom", D2)]).withColumn(
        "value", F.when(F.col("value") == "boom", F.raise_error(F.lit("injected failure"))).otherwise(F.col("value")))
    with pytest.raises(Exception, match="injected failure"):
        store.write(failing, "t", [D1, D2])
    assert _rows(store, spark) == [(1, "a", D1), (1, "b", D2)]


def test_a_column_that_disappears_or_changes_type_is_refused_naming_table_and_column(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1)]), "t", [D1])
    retyped = spark.createDataFrame([("1", "a", D2)], "machine_id string, value string, date date")
    with pytest.raises(SchemaMismatchError, match="pdm.t: column machine_id is string in the rows written, int in"):
        store.write(retyped, "t", [D2])
    with pytest.raises(SchemaMismatchError, match=r"pdm.t: column value \(string\) is missing"):
        store.write(spark.createDataFrame([(1, D2)], "machine_id int, date date"), "t", [D2])
    assert _rows(store, spark) == [(1, "a", D1)]


def test_whole_tables_are_overwritten_in_one_commit_and_missing_ones_named(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    with pytest.raises(TableNotFoundError, match="materialize machines first"):
        store.read(spark, "machines")
    first = store.write(spark.createDataFrame([(1, "model3")], "machine_id int, model string"), "machines")
    second = store.write(spark.createDataFrame([(2, "model1", 5)], "machine_id int, model string, age int"), "machines")
    assert second.version == first.version + 1
    assert [tuple(r) for r in store.read(spark, "machines").collect()] == [(2, "model1", 5)]
    assert [tuple(r) for r in store.read(spark, "machines", version=first.version).collect()] == [(1, "model3")]


def test_tables_have_names_a_user_queries_and_time_travels(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    first = store.write(frame(spark, [(1, "a", D1)]), "named", [D1])
    store.write(frame(spark, [(1, "b", D1)]), "named", [D1])
    assert [r["value"] for r in spark.table("pdm.named").collect()] == ["b"]
    assert [r["value"] for r in spark.sql(f"SELECT value FROM pdm.named VERSION AS OF {first.version}").collect()] == ["a"]
    spark.sql("DROP TABLE pdm.named")  # what a new session knows: nothing until the names are registered
    assert "pdm.named" in register_tables(spark, tmp_path)
    assert [r["value"] for r in spark.read.option("versionAsOf", first.version).table("pdm.named").collect()] == ["a"]


def test_delta_rs_reads_what_spark_wrote_without_a_jvm(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(spark.createDataFrame([(1, "3", D1), (2, "3", D1), (1, "4", D2)],
                                      "machine_id int, model_version string, date date"), "p", [D1, D2])
    commit = store.write(spark.createDataFrame([(1, "5", D3)], "machine_id int, model_version string, date date"),
                         "p", [D2, D3])
    assert delta_log.days_with_rows(store.where("p")) == {D1, D3}
    assert store.existing_days("p") == [D1, D2, D3]
    assert store.distinct_values_by_day("p", "model_version") == {D1: {"3"}, D3: {"5"}}
    assert store.pinned_version("p") == commit.version
    assert store.existing_days("never_written") == []


def test_unity_catalog_tables_go_by_their_three_part_names(spark, tmp_path):
    """The Databricks path (saveAsTable, spark.table) against Spark's own catalog, which stands in for Unity Catalog."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS pdm_uc_test LOCATION '{tmp_path / 'uc'}'")
    store = DeltaTableStore(UnityCatalog("spark_catalog", "pdm_uc_test"))
    assert not store.readable_without_spark("t")
    store.write(frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    second = store.write(frame(spark, [(2, "c", D2)]), "t", [D2])
    empty = store.write(frame(spark, []), "t", [D3])
    assert empty.version == second.version + 1
    assert store.existing_days("t", spark) == [D1, D2, D3]
    assert sorted(tuple(r) for r in spark.table("spark_catalog.pdm_uc_test.t").collect()) == [(1, "a", D1), (2, "c", D2)]
    assert _rows(store, spark, version=second.version - 1) == [(1, "a", D1), (1, "b", D2)]
    assert store.distinct_values_by_day("t", "value", spark) == {D1: {"a"}, D2: {"c"}}


@pytest.mark.parametrize("catalog", ["local", "unity"])
def test_tables_written_at_once_record_their_empty_days_in_one_new_ledger(spark, tmp_path, catalog):
    """raw_events writes four tables from four threads; the first days without rows create the ledger."""
    if catalog == "local":
        store = DeltaTableStore.local(tmp_path)
    else:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS pdm_uc_race LOCATION '{tmp_path / 'uc'}'")
        store = DeltaTableStore(UnityCatalog("spark_catalog", "pdm_uc_race"))
    tables = [f"t{i}" for i in range(4)]
    with ThreadPoolExecutor(max_workers=len(tables)) as pool:  # each table has rows on D1 only
        futures = [pool.submit(store.write, frame(spark, [(1, "a", D1)]), t, [D1, D2, D3]) for t in tables]
    for future in futures:
        future.result()
    assert all(store.existing_days(t, spark) == [D1, D2, D3] for t in tables)
    recorded = sorted((r["table_name"], r["date"]) for r in store.read(spark, LEDGER).collect())
    assert recorded == [(t, d) for t in tables for d in (D2, D3)]


def test_the_day_predicate_is_a_range_when_it_can_be():
    assert replace_where([D2, D1]) == "date >= '2015-01-01' AND date <= '2015-01-02'"
    assert replace_where([D1, D3]) == "date IN ('2015-01-01', '2015-01-03')"
    with pytest.raises(ValueError):
        replace_where([])


def test_the_days_and_versions_sensors_need_are_read_in_a_process_without_java(spark, tmp_path):
    import json
    import os
    import subprocess
    import sys

    store = DeltaTableStore.local(tmp_path)
    store.write(spark.createDataFrame([(1, "3", D1), (1, "4", D2)], "machine_id int, model_version string, date date"),
                "failure_predictions", [D1, D2])
    store.write(frame(spark, []), "raw_failures", [D1])
    script = ("import json, sys; from pdm_assets.storage.delta_store import DeltaTableStore\n"
              f"s = DeltaTableStore.local({str(tmp_path)!r})\n"
              "print(json.dumps([str(d) for d in s.existing_days('raw_failures')] + sorted(\n"
              "    f'{d}:{v}' for d, vs in s.distinct_values_by_day('failure_predictions', 'model_version').items()\n"
              "    for v in vs)))\n"
              "from pyspark import SparkContext; assert SparkContext._active_spark_context is None\n")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == ["2015-01-01", "2015-01-01:3", "2015-01-02:4"]
