"""A class archive for the embedded driver's JVM: Spark's classes mapped from one file at start instead of loaded one by one.

A cold embedded session with Delta Lake loads and verifies tens of thousands of classes, a large
share of its start on a small machine (docs/benchmarks.md). Java 13+ records the classes a JVM
loaded into a dynamic class-data-sharing archive as it exits (`-XX:ArchiveClassesAtExit`) and maps
them at a later start (`-XX:SharedArchiveFile`). The first embedded session that finds no archive
records one, once per Java and Spark build (the file's name is a digest of both); every later
session maps it. The archive only saves time: a JVM that cannot use it loads its classes as usual,
a recording is renamed into place only when its JVM exited cleanly and the file is whole (a
truncated archive would crash the next JVM), and a recording cut short leaves nothing behind.

PDM_JVM_ARCHIVE_DIR moves the archive's folder (default `~/.cache/pdm_assets`); `off` turns it off.
`python -m pdm_assets.storage.jvm_archive` records it now (the tests do, before their first session).
"""
from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

FOLDER_VARIABLE = "PDM_JVM_ARCHIVE_DIR"
# The first four bytes of a dynamic archive (HotSpot's CDS_DYNAMIC_ARCHIVE_MAGIC, little-endian).
_DYNAMIC_MAGIC = bytes.fromhex("a8ab0bf0")
_MIN_BYTES = 1 << 20
# Without this, a recording prints a line per class it skips and a JVM of another build one per start.
_QUIET = "-Xlog:cds=off,cds+dynamic=off"
EXIT_WAIT_SECONDS = 180
PRUNE_DAYS = 30  # writing the archive takes seconds; a JVM that hangs in its exit must not hang Python


def folder() -> Optional[Path]:
    """Where archives live, or None when PDM_JVM_ARCHIVE_DIR=off."""
    configured = os.environ.get(FOLDER_VARIABLE, "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pdm_assets"


def archive_path(identity: str) -> Optional[Path]:
    """The archive for one JVM identity (Java build, Spark build, driver class path), or None when off."""
    where = folder()
    if where is None:
        return None
    return where / f"spark-driver-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.jsa"


def is_archive(path: Path) -> bool:
    """A whole dynamic archive file: the right magic number and more than a header."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _DYNAMIC_MAGIC and os.fstat(handle.fileno()).st_size >= _MIN_BYTES
    except OSError:
        return False


@dataclass
class Recording:
    """An archive this process's JVM writes as it exits: `scratch` until it proves whole, then `archive`."""

    archive: Path
    scratch: Path
    lock: Path

    def abandon(self) -> None:
        """Give up (the JVM did not start, or did not exit cleanly): no file, no lock left behind."""
        self.scratch.unlink(missing_ok=True)
        self.lock.unlink(missing_ok=True)

    def finish(self, jvm: subprocess.Popen) -> bool:
        """End the JVM (it exits when its stdin closes), wait for its archive, keep it if whole; True if kept."""
        try:
            print("pdm_assets: saving the JVM's class archive for faster Spark starts (once; a few seconds)",
                  file=sys.stderr, flush=True)
            if jvm.stdin is not None and not jvm.stdin.closed:
                jvm.stdin.close()
            clean = jvm.wait(timeout=EXIT_WAIT_SECONDS) == 0
            if clean and is_archive(self.scratch):
                os.replace(self.scratch, self.archive)
                _prune(self.archive)
                return True
            return False
        except (OSError, subprocess.TimeoutExpired):
            return False
        finally:
            self.abandon()


def driver_options(identity: str) -> tuple[str, Optional[Recording]]:
    """Java options for a new driver JVM: map the archive if there is one, else record it if no one else is.

    Returns the options and, when this JVM records, the `Recording` to finish once it has started.
    """
    archive = archive_path(identity)
    if archive is None:
        return "", None
    if is_archive(archive):
        _touch(archive)
        return mapping_options(identity), None
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        lock = _take_lock(archive.with_suffix(".lock"))
    except OSError:
        return "", None  # a read-only or full cache: start without
    if lock is None:
        return "", None  # another process is recording it right now
    scratch = archive.parent / f"{archive.name}.{os.getpid()}.part"
    return f"-XX:ArchiveClassesAtExit={scratch} {_QUIET}", Recording(archive, scratch, lock)


def mapping_options(identity: str) -> str:
    """Java options that map the archive when it exists (never record): for JVMs started by others, e.g. a Connect server."""
    archive = archive_path(identity)
    return f"-XX:SharedArchiveFile={archive} {_QUIET}" if archive is not None and is_archive(archive) else ""


def finish_at_exit(recording: Recording, jvm: subprocess.Popen) -> None:
    """Have this process end its JVM and keep the archive when it exits."""
    atexit.register(recording.finish, jvm)


def _touch(archive: Path) -> None:
    """Mark the archive as used: archives of other builds unused for PRUNE_DAYS are removed (see `_prune`)."""
    try:
        os.utime(archive)
    except OSError:
        pass


def _prune(kept: Path) -> None:
    """Remove the archives of other Java or Spark builds that no session has used for PRUNE_DAYS (about 180 MB each)."""
    cutoff = time.time() - PRUNE_DAYS * 86_400
    for other in kept.parent.glob("spark-driver-*.jsa"):
        try:
            if other != kept and other.stat().st_mtime < cutoff:
                other.unlink()
        except OSError:
            pass


def _take_lock(lock: Path) -> Optional[Path]:
    """Create the lock with this pid; a lock whose process is gone is stale and taken over (its part file removed)."""
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _pid_in(lock)
            if owner is not None and _alive(owner):
                return None
            for part in lock.parent.glob(f"{lock.stem}.jsa.{owner}.part" if owner else f"{lock.stem}.jsa.*.part"):
                part.unlink(missing_ok=True)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as out:
            out.write(str(os.getpid()))
        return lock
    return None


def _pid_in(lock: Path) -> Optional[int]:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record_now() -> Optional[Path]:
    """Record the archive in a short-lived session of its own unless it exists; the archive's path, or None."""
    from pdm_assets.storage.spark_session import driver_identity

    archive = archive_path(driver_identity())
    if archive is None or is_archive(archive):
        return archive
    subprocess.run([sys.executable, "-m", "pdm_assets.storage.jvm_archive", "--session"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return archive if is_archive(archive) else None


def _typical_session() -> None:
    """What most runs load: CSV text parsed, a windowed aggregate, a Delta table written and read, an MLlib fit."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from pdm_assets.storage.spark_session import create_spark_session

    spark = create_spark_session(master="local[1]", shuffle_partitions=1)
    with tempfile.TemporaryDirectory(prefix="pdm_jvm_archive_") as scratch:
        csv = Path(scratch) / "rows.csv"
        csv.write_text("id,kind,value\n" + "".join(f"{i},{'ab'[i % 2]},{i * 0.5}\n" for i in range(40)))
        text = spark.read.text(str(csv), wholetext=True).select(F.explode(F.split("value", "\n")).alias("line"))
        cells = text.where(F.col("line") != "").select(F.split("line", ",").alias("c"))
        rows = cells.select(F.col("c")[0].try_cast("int").alias("id"), F.col("c")[1].alias("kind"),
                            F.col("c")[2].try_cast("double").alias("value")).where(F.col("id").isNotNull())
        rows = rows.withColumn("date", F.to_date(F.timestamp_seconds(F.col("id") * 86_400)))
        window = Window.partitionBy("kind").orderBy("id").rangeBetween(-3, 0)
        rows.select("*", F.sum("value").over(window).alias("rolling")).groupBy("kind").agg(F.max("rolling")).collect()
        table = str(Path(scratch) / "table")
        rows.write.format("delta").partitionBy("date").save(table)
        stored = spark.read.format("delta").load(table)
        model = Pipeline(stages=[StringIndexer(inputCol="kind", outputCol="label"),
                                 VectorAssembler(inputCols=["id", "value"], outputCol="features"),
                                 RandomForestClassifier(numTrees=2, maxDepth=2)]).fit(stored)
        model.transform(stored).select("probability").collect()
    spark.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--session"]:
        _typical_session()  # its JVM records the archive as this process exits
    else:
        path = record_now()
        print(path if path is not None else "no archive (PDM_JVM_ARCHIVE_DIR=off, or the recording failed)")
