"""Day files committed by delta-rs: exactly the days replaced, a concurrent commit met, Spark's writer kept where needed."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from pdm_assets.storage import day_files, delta_log
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets.storage.errors import SchemaMismatchError
from pdm_assets_tests.storage.helpers import D1, D2, D3, frame



def _staged(location: str, name: str, day: str, values: list[str]) -> day_files.StagedFile:
    """A Parquet day file as Spark leaves it in a staging folder (the day in the folder name, not in the file)."""
    folder = day_files.staging_folder(location, name) / f"date={day}"
    folder.mkdir(parents=True)
    path = folder / f"part-{name}.parquet"
    pq.write_table(pa.table({"machine_id": pa.array([1] * len(values), pa.int32()), "value": values}), path)
    return day_files.StagedFile(day, path)


def _write(write_id: str, day: str, shape: day_files.TableShape) -> day_files.DayWrite:
    """One write of one day, its id in the commit's metadata as the store records it."""
    return day_files.DayWrite(write_id, [day], json.dumps({"write_id": write_id}), shape)


def _values_by_day(location: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for add in pa.table(DeltaTable(location).get_add_actions(flatten=True)).to_pydict()["path"]:
        day = add.split("/")[0].removeprefix("date=")
        found.setdefault(day, []).extend(pq.read_table(Path(location) / add).column("value").to_pylist())
    return {day: sorted(values) for day, values in sorted(found.items())}


def test_a_partitioned_write_to_a_local_table_commits_spark_files_through_delta_rs(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1), (1, "b", D2)]), "t", [D1, D2])
    commit = store.write(frame(spark, [(1, "b2", D2), (2, "c", D3)]), "t", [D2, D3])
    location = store.where("t")
    history = DeltaTable(location).history(1)[0]
    assert history["engineInfo"].startswith("delta-rs") and history["version"] == commit.version
    assert _values_by_day(location) == {"2015-01-01": ["a"], "2015-01-02": ["b2"], "2015-01-03": ["c"]}
    # Spark's Delta reader (not only the store's Parquet read) sees the same version, with its record counts
    rows = spark.read.format("delta").load(location)
    assert sorted(tuple(r) for r in rows.collect()) == [(1, "a", D1), (1, "b2", D2), (2, "c", D3)]
    adds = pa.table(DeltaTable(location).get_add_actions(flatten=True)).to_pydict()
    assert sorted(adds["num_records"]) == [1, 1, 1]
    assert not any((Path(location) / day_files.STAGING).iterdir())  # each write's staging went with its commit


def test_a_column_the_table_lacks_is_refused_before_anything_is_written(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1)]), "t", [D1])
    wider = spark.createDataFrame([(1, "a", 2.0, D2)], "machine_id int, value string, extra double, date date")
    with pytest.raises(SchemaMismatchError, match=r"pdm.t: column extra \(double\) is not in the table"):
        store.write(wider, "t", [D2])
    assert delta_log.days_with_rows(store.where("t")) == {D1}


def _table(tmp_path) -> str:
    location = str(tmp_path / "t")
    write_deltalake(location, pa.table({"machine_id": pa.array([1], pa.int32()), "value": ["old"],
                                        "date": [D1]}), partition_by=["date"])
    return location


def test_a_commit_that_meets_a_concurrent_one_replaces_the_days_on_top_of_it(tmp_path, monkeypatch):
    """Another writer adds files for the same new day between this write's snapshot and its commit.

    delta-rs alone would commit both (a day that had no files has nothing to conflict on): the day
    would hold both writers' rows. The commit must see the newer version and remove the other's files.
    """
    location = _table(tmp_path)
    shape = day_files.plain_shape(location)
    assert shape is not None
    theirs = _staged(location, "theirs", "2015-01-02", ["theirs"])
    mine = _staged(location, "mine", "2015-01-02", ["mine", "mine"])
    original = DeltaTable.create_write_transaction
    raced = []

    def other_commits_first(self, *args, **kwargs):
        if not raced:  # once: the other writer lands between this write's snapshot and its commit
            raced.append(True)
            day_files.commit_days(location, [theirs], _write("theirs", "2015-01-02", shape), 1, lambda attempt: None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", other_commits_first)
    conflicts = []
    version = day_files.commit_days(location, [mine], _write("mine", "2015-01-02", shape), 3, conflicts.append)
    assert conflicts == [1] and version == 2 == DeltaTable(location).version()
    assert _values_by_day(location) == {"2015-01-01": ["old"], "2015-01-02": ["mine", "mine"]}
    assert delta_log.version_of_write(location, "mine") == 2


def test_a_commit_that_keeps_meeting_others_gives_up_and_leaves_no_file_behind(tmp_path, monkeypatch):
    location = _table(tmp_path)
    shape = day_files.plain_shape(location)
    original = DeltaTable.create_write_transaction
    others: list[int] = []

    def always_beaten(self, *args, **kwargs):
        if len(others) % 2 == 0:  # this write's attempt: another writer commits first (through this same hook)
            n = len(others) // 2
            others.append(n)
            day_files.commit_days(location, [_staged(location, f"other{n}", "2015-01-01", [f"o{n}"])],
                                  _write(f"other{n}", "2015-01-01", shape), 1, lambda attempt: None)
        else:  # the other writer's own commit
            others.append(-1)
        return original(self, *args, **kwargs)

    mine = _staged(location, "mine", "2015-01-01", ["mine"])
    monkeypatch.setattr(DeltaTable, "create_write_transaction", always_beaten)
    with pytest.raises(day_files.CommitConflict):
        day_files.commit_days(location, [mine], _write("mine", "2015-01-01", shape), 3, lambda attempt: None)
    monkeypatch.undo()
    assert _values_by_day(location) == {"2015-01-01": ["o2"]}  # the last other writer's day, whole
    assert not (Path(location) / "date=2015-01-01" / mine.path.name).exists()  # moved in, then removed


def test_tables_with_delta_features_keep_spark_s_writer_and_its_constraints(spark, tmp_path):
    store = DeltaTableStore.local(tmp_path)
    store.write(frame(spark, [(1, "a", D1)]), "t", [D1])
    location = store.where("t")
    spark.sql(f"ALTER TABLE delta.`{location}` ADD CONSTRAINT known_machine CHECK (machine_id > 0)")
    assert day_files.plain_shape(location) is None
    with pytest.raises(Exception, match="known_machine"):  # a plain Parquet write could not have enforced it
        store.write(frame(spark, [(-1, "x", D2)]), "t", [D2])
    commit = store.write(frame(spark, [(2, "b", D2)]), "t", [D2])
    assert DeltaTable(location).history(1)[0]["version"] == commit.version
    assert "delta-rs" not in DeltaTable(location).history(1)[0].get("engineInfo", "")
    assert delta_log.days_with_rows(location) == {D1, D2}


def test_spark_s_writer_still_tells_rows_outside_the_days_from_a_violated_constraint(spark, tmp_path):
    """Delta reports both as a replaceWhere mismatch; only the first is the store's RowsOutsideDaysError."""
    from pdm_assets.storage.catalogs import UnityCatalog
    from pdm_assets.storage.errors import RowsOutsideDaysError

    spark.sql(f"CREATE DATABASE IF NOT EXISTS pdm_uc_days LOCATION '{tmp_path / 'uc'}'")
    store = DeltaTableStore(UnityCatalog("spark_catalog", "pdm_uc_days"))
    store.write(frame(spark, [(1, "a", D1)]), "t", [D1])
    with pytest.raises(RowsOutsideDaysError, match="other than the 2015-01-01"):
        store.write(frame(spark, [(1, "x", D2)]), "t", [D1])
    spark.sql("ALTER TABLE spark_catalog.pdm_uc_days.t ADD CONSTRAINT known_machine CHECK (machine_id > 0)")
    with pytest.raises(Exception, match="known_machine") as raised:
        store.write(frame(spark, [(-1, "x", D1)]), "t", [D1])
    assert not isinstance(raised.value, RowsOutsideDaysError)


def test_a_commit_that_fails_after_landing_keeps_its_files_and_counts_as_done(tmp_path, monkeypatch):
    """An error raised once the commit is written (a post-commit step, a signal) must not delete the files it refers to."""
    location = _table(tmp_path)
    shape = day_files.plain_shape(location)
    original = DeltaTable.create_write_transaction

    def fails_after_committing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise OSError("failed after the commit was written")

    monkeypatch.setattr(DeltaTable, "create_write_transaction", fails_after_committing)
    mine = _staged(location, "mine", "2015-01-02", ["mine"])
    version = day_files.commit_days(location, [mine], _write("w1", "2015-01-02", shape), 3, lambda attempt: None)
    assert version == 1
    assert _values_by_day(location) == {"2015-01-01": ["old"], "2015-01-02": ["mine"]}  # its file is still there


def test_a_table_whose_schema_changed_meanwhile_gets_no_commit_and_no_file(tmp_path):
    location = _table(tmp_path)
    shape = day_files.plain_shape(location)
    # another writer replaces the table with a wider schema while this write's files are being written
    write_deltalake(location, pa.table({"machine_id": pa.array([2], pa.int32()), "value": ["new"],
                                        "extra": [1.0], "date": [D1]}), partition_by=["date"],
                    mode="overwrite", schema_mode="overwrite")
    mine = _staged(location, "mine", "2015-01-02", ["mine"])
    with pytest.raises(day_files.TableChangedError, match="version 1 changed"):
        day_files.commit_days(location, [mine], _write("w1", "2015-01-02", shape), 3, lambda attempt: None)
    assert DeltaTable(location).version() == 1
    assert not (Path(location) / "date=2015-01-02" / mine.path.name).exists()


def test_checkpoints_come_every_ten_versions_as_spark_makes_them(tmp_path):
    location = _table(tmp_path)
    for n in range(10):
        shape = day_files.plain_shape(location)
        day_files.commit_days(location, [_staged(location, f"w{n}", "2015-01-02", [f"v{n}"])],
                              _write(f"w{n}", "2015-01-02", shape), 1, lambda attempt: None)
    checkpoints = sorted(p.name for p in (Path(location) / "_delta_log").glob("*.checkpoint.parquet"))
    assert checkpoints == ["00000000000000000010.checkpoint.parquet"]
    assert _values_by_day(location) == {"2015-01-01": ["old"], "2015-01-02": ["v9"]}


def test_staging_folders_of_killed_writes_are_swept_once_stale(tmp_path):
    import os

    location = _table(tmp_path)
    stale, fresh = day_files.staging_folder(location, "killed"), day_files.staging_folder(location, "running")
    for folder in (stale, fresh):
        (folder / "date=2015-01-02").mkdir(parents=True)
    old = os.stat(stale).st_mtime - day_files.STALE_STAGING_SECONDS - 60
    os.utime(stale, (old, old))
    day_files.sweep_stale_staging(location)
    assert not stale.exists() and fresh.exists()
