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


def test_without_an_archive_the_first_jvm_records_it_and_the_next_ones_map_it(archive_folder) -> None:
    options, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")
    assert recording is not None and f"-XX:ArchiveClassesAtExit={recording.scratch}" in options
    assert jvm_archive.driver_options("java 17 | spark 4.0.1") == ("", None)  # one recording at a time

    kept = recording.finish(_exiting_jvm(recording.scratch, MAGIC, 2 << 20, 0))

    assert kept and recording.archive.is_file() and not recording.scratch.exists() and not recording.attempt.exists()
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


def test_a_new_archive_keeps_only_the_two_most_recently_used_of_other_builds(archive_folder) -> None:
    archive_folder.mkdir()
    for n in range(4):  # four other environments, used one, two, three and four hours ago
        other = archive_folder / f"spark-driver-env{n}.jsa"
        other.write_bytes(MAGIC + bytes(2 << 20))
        os.utime(other, (time.time() - 3600 * (n + 1),) * 2)
    _, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    assert recording.finish(_exiting_jvm(recording.scratch, MAGIC, 2 << 20, 0))

    expected = sorted([recording.archive.name, "spark-driver-env0.jsa", "spark-driver-env1.jsa"])
    assert sorted(p.name for p in archive_folder.iterdir()) == expected


@pytest.mark.parametrize("head, size, code", [(MAGIC, 2 << 20, 1), (MAGIC, 100, 0), (b"xxxx", 2 << 20, 0)],
                         ids=["jvm-failed", "truncated", "not-an-archive"])
def test_an_archive_is_kept_only_from_a_clean_exit_and_whole(archive_folder, head: bytes, size: int, code: int) -> None:
    _, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    kept = recording.finish(_exiting_jvm(recording.scratch, head, size, code))

    assert not kept and not recording.archive.exists() and not recording.scratch.exists()
    assert [p.name for p in archive_folder.iterdir()] == [recording.attempt.name]
    assert jvm_archive.driver_options("java 17 | spark 4.0.1") == ("", None)  # no new attempt for an hour
    hour_ago = time.time() - jvm_archive.RETRY_SECONDS - 1
    os.utime(recording.attempt, (hour_ago, hour_ago))
    assert jvm_archive.driver_options("java 17 | spark 4.0.1")[1] is not None  # then the next JVM records it


def test_an_attempt_killed_long_ago_is_taken_over_and_its_part_file_removed(archive_folder) -> None:
    _, killed = jvm_archive.driver_options("java 17 | spark 4.0.1")
    half_written = killed.archive.parent / f"{killed.archive.name}.12345.part"  # its JVM wrote on after its Python died
    half_written.write_bytes(MAGIC + bytes(10))
    long_ago = time.time() - jvm_archive.RETRY_SECONDS - 1
    os.utime(killed.attempt, (long_ago, long_ago))

    options, recording = jvm_archive.driver_options("java 17 | spark 4.0.1")

    assert recording is not None and "ArchiveClassesAtExit" in options and not half_written.exists()


def test_no_archive_when_off_unnameable_or_under_a_path_with_a_space(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(jvm_archive.FOLDER_VARIABLE, "off")
    assert jvm_archive.driver_options("anything") == ("", None)
    monkeypatch.setenv(jvm_archive.FOLDER_VARIABLE, str(tmp_path / "my cache"))  # Spark splits options at spaces
    assert jvm_archive.driver_options("anything") == ("", None)
    monkeypatch.setenv(jvm_archive.FOLDER_VARIABLE, str(tmp_path))
    assert jvm_archive.driver_options(None) == ("", None)  # Delta's jars not resolved yet: no name to give it


@pytest.mark.slow  # a JVM of its own
def test_a_jvm_that_refuses_to_record_starts_without_the_archive(tmp_path) -> None:
    """`-Xshare:off` (or a JDK without its base archive) makes a recording JVM exit at once: start it plainly."""
    script = ("from pdm_assets.storage.spark_session import create_spark_session; "
              "s = create_spark_session('local[1]', extra_conf={'spark.driver.extraJavaOptions': '-Xshare:off'}); "
              "print('rows', s.range(3).count())")
    env = {**os.environ, jvm_archive.FOLDER_VARIABLE: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0 and "rows 3" in done.stdout, done.stderr[-3000:]
    assert list(tmp_path.glob("*.attempt")), "it did try to record first"
    assert not list(tmp_path.glob("*.jsa")) and not list(tmp_path.glob("*.part"))
