"""Killed writers, concurrent writers and readers during a rewrite, with real processes (own JVMs).

A writer process replaces the same three days again and again, each generation one range write whose
rows carry the generation number. Afterwards every day must hold exactly the rows of one generation,
the same for all three days (a range is one commit): never missing, mixed or duplicated, read both by
Spark and by delta-rs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from pdm_assets.storage import delta_log
from pdm_assets.storage.delta_store import DeltaTableStore

# Writes that race, kills, processes of their own: outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

DAYS = [date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)]
ROWS_PER_DAY = 3

# argv: warehouse, first generation, last generation, seconds to sleep per row of the last day, marker
WRITER = textwrap.dedent("""
    import sys
    from datetime import date
    from pyspark.sql import functions as F
    from pdm_assets.storage.spark_session import create_spark_session
    from pdm_assets.storage.delta_store import DeltaTableStore

    warehouse, first, last, sleep, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    spark = create_spark_session("local[2]", shuffle_partitions=2)
    store = DeltaTableStore.local(warehouse)
    days = [date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)]
    for generation in range(first, last + 1):
        rows = spark.createDataFrame([(m, f"{marker}{generation}", d) for d in days for m in range(3)],
                                     "machine_id int, generation string, date date")
        # rows of the last day take a while: the files of the first days are on disk before the commit
        # (a column that is used, or the optimizer would drop the sleep)
        pause = F.expr(f"substr(reflect('java.lang.Thread', 'sleep', cast({int(sleep * 1000)} as bigint)), 1, 0)")
        slow = F.concat("generation", F.when(F.col("date") == F.lit(days[-1]), pause).otherwise(F.lit("")))
        commit = store.write(rows.withColumn("generation", slow) if sleep else rows, "t", days)
        print(f"committed {marker}{generation} v{commit.version}", flush=True)
""")


def _writer(warehouse: Path, first: int, last: int, sleep: float = 0.0, marker: str = "g") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(warehouse), str(first), str(last), str(sleep), marker],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: the kill takes the JVM too


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def _wait_for(condition, timeout: float = 120.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"writer ended early: {process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _generations_by_spark(spark, store) -> dict[date, list[str]]:
    rows = store.read(spark, "t").select("date", "generation").collect()
    found: dict[date, list[str]] = {}
    for r in rows:
        found.setdefault(r["date"], []).append(r["generation"])
    return found


def _generations_by_delta_rs(location: Path) -> dict[date, list[str]]:
    import pyarrow.parquet as pq

    table = delta_log.open_table(str(location))
    found: dict[date, list[str]] = {}
    for day in {p["date"] for p in table.partitions()}:
        for uri in table.file_uris([("date", "=", day)]):  # the live files of the day, as the log lists them
            found.setdefault(date.fromisoformat(day), []).extend(
                pq.read_table(uri.removeprefix("file://"), columns=["generation"]).column("generation").to_pylist())
    return found


def _one_whole_generation(found: dict[date, list[str]]) -> str:
    """The generation every day holds completely; fails on a missing, mixed or duplicated day."""
    assert sorted(found) == DAYS, found
    generations = {g for rows in found.values() for g in rows}
    assert len(generations) == 1, found
    assert all(len(rows) == ROWS_PER_DAY for rows in found.values()), found
    return generations.pop()


def _data_files(warehouse: Path) -> int:
    return sum(1 for p in (warehouse / "pdm" / "t").rglob("*.parquet") if "_delta_log" not in p.parts)


def _commits(warehouse: Path) -> int:
    log = warehouse / "pdm" / "t" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.is_dir() else 0


@pytest.mark.slow
def test_kill_9_at_any_moment_leaves_every_day_old_or_new(spark, tmp_path):
    warehouse = tmp_path / "wh"
    store = DeltaTableStore.local(warehouse)
    # moment: (condition to kill at, given the data files and commits when the next write began; whether it commits)
    moments = {
        "a write just begun": (lambda files, commits: True, False),
        # the new version's data files are on disk (the last day's task still running), nothing committed
        "files written, not committed": (lambda files, commits: _data_files(warehouse) > files, False),
        # the commit has landed; the writer is reading back its version and recording empty days
        "just after the commit": (lambda files, commits: _commits(warehouse) > commits, True),
    }
    seen = []
    for label, (moment, committed) in moments.items():
        writer = _writer(warehouse, len(seen) * 10 + 1, len(seen) * 10 + 9, sleep=0.7)
        # (the lambdas below run within this iteration: the loop variables they read are current)
        _wait_for(lambda: (writer.stdout.readline() or "").startswith("committed"), process=writer)  # noqa: B023
        files, commits = _data_files(warehouse), _commits(warehouse)
        _wait_for(lambda: moment(files, commits), process=writer)  # noqa: B023
        _kill(writer)
        assert (_commits(warehouse) > commits) == committed, label  # the kill hit the moment it aimed at
        by_spark, by_rs = _one_whole_generation(_generations_by_spark(spark, store)), \
            _one_whole_generation(_generations_by_delta_rs(warehouse / "pdm" / "t"))
        assert by_spark == by_rs, label
        seen.append((label, by_spark))
    # a write after the kills commits normally on top of what the killed writers left
    store.write(spark.createDataFrame([(m, "after", d) for d in DAYS for m in range(ROWS_PER_DAY)],
                                      "machine_id int, generation string, date date"), "t", DAYS)
    assert _one_whole_generation(_generations_by_spark(spark, store)) == "after"
    print(f"\n[kill -9] {seen}")


@pytest.mark.slow
def test_two_writers_of_the_same_days_at_once_leave_one_whole_version_and_a_reader_sees_only_whole_ones(
        spark, tmp_path):
    warehouse = tmp_path / "wh"
    store = DeltaTableStore.local(warehouse)
    first = _writer(warehouse, 1, 1)
    assert first.wait(timeout=180) == 0, first.stderr.read()[-3000:]
    reads: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_while_they_write() -> None:
        while not stop.is_set():
            try:
                reads.append(_one_whole_generation(_generations_by_spark(spark, store)))
            except BaseException as err:  # noqa: BLE001 - reported by the test thread below
                errors.append(err)
                return

    reader = threading.Thread(target=read_while_they_write)
    reader.start()
    a, b = _writer(warehouse, 1, 4, marker="a"), _writer(warehouse, 1, 4, marker="b")
    try:
        outputs = [(p.wait(timeout=300), p.stderr.read()) for p in (a, b)]
    finally:
        stop.set()
        reader.join()
    for code, err in outputs:  # each either got through (conflicts retried) or failed naming the conflict
        assert code == 0 or ("ConcurrentWriteError" in err and "another run" in err), err[-3000:]
    final = _one_whole_generation(_generations_by_spark(spark, store))
    assert final == _one_whole_generation(_generations_by_delta_rs(warehouse / "pdm" / "t"))
    assert final in {"a4", "b4"} or any(code for code, _ in outputs)
    assert not errors, errors[0]  # every read during the rewrites saw one whole version
    assert len(reads) > 3 and len(set(reads)) > 1, reads  # and the reads really overlapped the rewrites
    retried = sum(err.count("conflicts with a concurrent commit") for _, err in outputs)
    print(f"\n[concurrent] exit codes {[c for c, _ in outputs]}, {retried} retried conflict(s), "
          f"{len(reads)} consistent reads, final {final}")


@pytest.mark.parametrize("catalog", ["local", "unity"])
def test_a_conflicting_commit_is_retried_and_the_write_lands_whole(spark, tmp_path, caplog, catalog):
    """In one JVM: a slow write of three days and a quick one started during it; both land, one after the other.

    Spark's Delta writer (Unity Catalog tables) reads the table when its write begins, so one of the
    two meets the other's commit and writes again: usually the slow one, but on a loaded machine the
    quick write's own transaction can take longer than the slow one's tasks, and then the quick one
    does. Local tables commit their day files through delta-rs on the version current when the files
    are written, so the slow write simply commits second (the conflict within that short window is
    tested in test_day_files). Either way the writer that committed last has its rows in the table.
    """
    from pyspark.sql import functions as F

    from pdm_assets.storage.catalogs import UnityCatalog

    if catalog == "local":
        store, location = DeltaTableStore.local(tmp_path), tmp_path / "pdm" / "t"
    else:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS pdm_uc_conflict LOCATION '{tmp_path / 'uc'}'")
        store, location = DeltaTableStore(UnityCatalog("spark_catalog", "pdm_uc_conflict")), tmp_path / "uc" / "t"
    schema = "machine_id int, generation string, date date"
    first = store.write(spark.createDataFrame([(m, "g0", d) for d in DAYS for m in range(ROWS_PER_DAY)], schema),
                        "t", DAYS)
    slow_rows = spark.createDataFrame([(m, "slow", d) for d in DAYS for m in range(ROWS_PER_DAY)], schema)
    pause = F.expr("substr(reflect('java.lang.Thread', 'sleep', cast(700 as bigint)), 1, 0)")
    slow = slow_rows.withColumn("generation", F.concat("generation", pause))  # ~3 s of tasks, used so not pruned
    result = {}
    writer = threading.Thread(target=lambda: result.setdefault("slow", store.write(slow, "t", DAYS)))
    with caplog.at_level("WARNING", logger="pdm_assets.storage.delta_store"):
        writer.start()
        time.sleep(1.0)  # the slow write is writing its files
        result["quick"] = store.write(spark.createDataFrame(
            [(m, "quick", d) for d in DAYS for m in range(ROWS_PER_DAY)], schema), "t", DAYS)
        writer.join()
        attempts = [r.getMessage() for r in caplog.records if "conflicts with a concurrent commit" in r.getMessage()]
    if catalog == "unity":
        assert attempts, "neither write met the other's commit: nothing was tested"
    versions = {name: commit.version for name, commit in result.items()}
    assert sorted(versions.values()) == [first.version + 1, first.version + 2], versions  # both landed, one each
    last = max(versions, key=versions.get)
    assert _one_whole_generation(_generations_by_spark(spark, store)) == last
    assert _one_whole_generation(_generations_by_delta_rs(location)) == last
