"""The driver JVM's class archive: recorded once, kept only when whole, mapped by later sessions."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdm_assets.storage import jvm_archive
from pdm_assets.storage.spark_session import driver_identity

MAGIC = bytes.fromhex("a8ab0bf0")


@pytest.fixture
def archive_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "archives"
    monkeypatch.setenv(jvm_archive.FOLDER_VARIABLE, str(folder))
    return folder


def _exiting_jvm(writes: Path, head: bytes, size: int, code: int) -> subprocess.Popen:
    """A stand-in for the driver JVM: it writes `size` bytes starting with `head` once its stdin closes, exits `code`."""
    script = (f"import sys; sys.stdin.read(); open({str(writes)!r}, 'wb').write({head!r} + bytes({size - len(head)})); "
              f"sys.exit({code})")
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)


def test_the_shared_session_maps_spark_s_classes_from_the_archive(spark, class_load_log) -> None:
    archive = jvm_archive.archive_path(driver_identity())
    assert archive is not None and jvm_archive.is_archive(archive), "conftest records it before the session"
    spark.range(3).count()
    loads = [line for line in class_load_log.read_text().splitlines() if " org.apache.spark.SparkContext " in line]
    assert loads and "source: shared objects file (top)" in loads[0], loads  # (top) = the dynamic archive


def test_without_an_archive_the_first_jvm_records_it_and_a_second_waits_its_turn(archive_folder) -> None:
    options, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")
    assert recording is not None and f"-XX:ArchiveClassesAtExit={recording.scratch}" in options
    assert recording.lock.read_text() == str(os.getpid())
    assert jvm_archive.driver_options("java 17 | spark 4.0.1") == ("", None)  # the lock is held by a live process

    kept = recording.finish(_exiting_jvm(recording.scratch, MAGIC, 2 << 20, 0))

    assert kept and recording.archive.is_file() and not recording.scratch.exists() and not recording.lock.exists()
    options, again = jvm_archive.driver_options("java 17 | spark 4.0.1")
    assert again is None and options.startswith(f"-XX:SharedArchiveFile={recording.archive} ")
    assert jvm_archive.driver_options("java 21 | spark 4.0.1")[1] is not None  # another build, another archive


def test_archives_of_other_builds_unused_for_a_month_go_when_a_new_one_is_kept(archive_folder) -> None:
    archive_folder.mkdir()
    stale, recent = archive_folder / "spark-driver-old.jsa", archive_folder / "spark-driver-recent.jsa"
    for path in (stale, recent):
        path.write_bytes(MAGIC + bytes(2 << 20))
    month_ago = time.time() - (jvm_archive.PRUNE_DAYS + 1) * 86_400
    os.utime(stale, (month_ago, month_ago))
    os.utime(recent, (month_ago, month_ago))
    os.utime(recent)  # what mapping an archive does: used today
    _, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    assert recording.finish(_exiting_jvm(recording.scratch, MAGIC, 2 << 20, 0))

    assert sorted(p.name for p in archive_folder.iterdir()) == sorted([recording.archive.name, recent.name])


@pytest.mark.parametrize("head, size, code", [(MAGIC, 2 << 20, 1), (MAGIC, 100, 0), (b"xxxx", 2 << 20, 0)],
                         ids=["jvm-failed", "truncated", "not-an-archive"])
def test_an_archive_is_kept_only_from_a_clean_exit_and_whole(archive_folder, head: bytes, size: int, code: int) -> None:
    _, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    kept = recording.finish(_exiting_jvm(recording.scratch, head, size, code))

    assert not kept and not recording.archive.exists() and not recording.scratch.exists()
    assert list(archive_folder.iterdir()) == []
    assert jvm_archive.driver_options("java 17 | spark 4.0.1")[1] is not None  # the next JVM records it again


def test_a_recording_whose_process_died_is_cleared_and_taken_over(archive_folder) -> None:
    _, dead = jvm_archive.driver_options("java 17 | spark 4.0.1")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)
    dead.lock.write_text(str(pid))  # as if a process that has since been killed held it
    half_written = dead.archive.parent / f"{dead.archive.name}.{pid}.part"
    half_written.write_bytes(MAGIC + bytes(10))

    options, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    assert recording is not None and "ArchiveClassesAtExit" in options
    assert not half_written.exists() and recording.lock.read_text() == str(os.getpid())


def test_off_turns_it_off(monkeypatch) -> None:
    monkeypatch.setenv(jvm_archive.FOLDER_VARIABLE, "off")
    assert jvm_archive.archive_path("anything") is None and jvm_archive.driver_options("anything") == ("", None)
