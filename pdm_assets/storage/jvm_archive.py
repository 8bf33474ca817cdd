"""A class archive for the embedded driver's JVM: Spark's classes mapped from one file at start instead of loaded one by one.

A cold embedded session with Delta Lake loads and verifies tens of thousands of classes, a large
share of its start on a small machine (docs/benchmarks.md). Java 13+ records the classes a JVM
loaded into a dynamic class-data-sharing archive as it exits (`-XX:ArchiveClassesAtExit`) and maps
them at a later start (`-XX:SharedArchiveFile`). The first embedded session that finds no archive
records one, once per Java and Spark build (the file's name is a digest of both); every later
session maps it. The archive only saves time: a JVM that cannot use it loads its classes as usual,
a JVM that refuses the options starts without them, a recording is renamed into place only when
its JVM exited cleanly and the file is whole (a truncated archive would crash the next JVM), and
an attempt that left no archive is not repeated for an hour.

PDM_JVM_ARCHIVE_DIR moves the archive's folder (default `~/.cache/pdm_assets`); `off` turns it off.
`python -m pdm_assets.tools.record_jvm_archive` records it now (the tests do, before their first session).
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
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
# Writing the archive takes seconds; a JVM that hangs in its exit must not hang Python.
EXIT_WAIT_SECONDS = 180
PRUNE_DAYS = 30
KEEP_OTHERS = 2  # archives of other builds kept beside a new one (other environments on the machine)
# After an attempt that left no archive (killed, failed, disk full), the next waits this long.
RETRY_SECONDS = 3600
FREE_BYTES_NEEDED = 1 << 30  # about five archives: never push a nearly full disk over for a speed-up


def folder() -> Optional[Path]:
    """Where archives live, or None when PDM_JVM_ARCHIVE_DIR=off."""
    configured = os.environ.get(FOLDER_VARIABLE, "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pdm_assets"


def archive_path(identity: Optional[str]) -> Optional[Path]:
    """The archive for one JVM identity (Java build, Spark's jars), or None when off or not nameable."""
    where = folder()
    if where is None or identity is None or any(c.isspace() for c in str(where)):
        return None  # Spark splits Java options at spaces: a path with one would break the JVM's start
    return where / f"spark-driver-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.jsa"


def is_archive(path: Path) -> bool:
    """A whole dynamic archive file: the right magic number (written last) and more than a header."""
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

    @property
    def attempt(self) -> Path:
        """This recording's attempt marker."""
        return attempt_marker(self.archive)

    def abandon(self) -> None:
        """Give up: no part file left (the attempt's marker stays, so the next try waits RETRY_SECONDS)."""
        self.scratch.unlink(missing_ok=True)

    def finish(self, jvm: Optional[subprocess.Popen]) -> bool:
        """End the JVM (it exits when its stdin closes), wait for its archive, keep it if whole; True if kept."""
        try:
            if jvm is None:
                return False
            print("pdm_assets: saving the JVM's class archive for faster Spark starts (once; about 10 s)",
                  file=sys.stderr, flush=True)
            if jvm.stdin is not None and not jvm.stdin.closed:
                jvm.stdin.close()
            try:
                clean = jvm.wait(timeout=EXIT_WAIT_SECONDS) == 0
            except subprocess.TimeoutExpired:
                jvm.kill()  # no half-written archive may appear after this
                jvm.wait()
                return False
            if clean and is_archive(self.scratch):
                os.replace(self.scratch, self.archive)
                self.attempt.unlink(missing_ok=True)
                _prune(self.archive)
                return True
            return False
        except OSError:
            return False
        finally:
            self.abandon()


def attempt_marker(archive: Path) -> Path:
    """The file that says a recording of `archive` started (and when)."""
    return archive.with_suffix(".attempt")


def driver_options(identity: Optional[str]) -> tuple[str, Optional[Recording]]:
    """Java options for a new driver JVM, and the `Recording` to finish when this JVM records the archive.

    Maps the archive if there is one; else records it, unless another attempt started within RETRY_SECONDS.
    """
    archive = archive_path(identity)
    if archive is None:
        return "", None
    if is_archive(archive):
        _touch(archive)
        return mapping_options(identity), None
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(archive.parent).free < FREE_BYTES_NEEDED or not _start_attempt(archive):
            return "", None
    except OSError:
        return "", None  # a read-only cache: start without
    for stale in archive.parent.glob(f"{archive.name}.*.part"):  # left by attempts that were killed
        stale.unlink(missing_ok=True)
    scratch = archive.parent / f"{archive.name}.{os.getpid()}.part"
    return f"-XX:ArchiveClassesAtExit={scratch} {_QUIET}", Recording(archive, scratch)


def mapping_options(identity: Optional[str]) -> str:
    """Java options that map the archive when it exists (never record): for JVMs started by others, e.g. a Connect server."""
    archive = archive_path(identity)
    return f"-XX:SharedArchiveFile={archive} {_QUIET}" if archive is not None and is_archive(archive) else ""


def may_record(identity: Optional[str]) -> bool:
    """Whether a new JVM would record the archive now (none yet, recording possible, no recent attempt)."""
    archive = archive_path(identity)
    if archive is None or is_archive(archive):
        return False
    marker = attempt_marker(archive)
    return not (marker.exists() and time.time() - marker.stat().st_mtime < RETRY_SECONDS)


def finish_at_exit(recording: Recording, jvm: Optional[subprocess.Popen]) -> None:
    """Have this process end its JVM and keep the archive when it exits."""
    atexit.register(recording.finish, jvm)


def _start_attempt(archive: Path) -> bool:
    """Claim this recording: create its marker, or take over one older than RETRY_SECONDS. False if another is recent."""
    marker = attempt_marker(archive)
    for _ in range(2):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - marker.stat().st_mtime < RETRY_SECONDS:
                    return False
                marker.unlink()
            except FileNotFoundError:
                pass  # another process took it over just now: try once more
    return False


def _touch(archive: Path) -> None:
    """Mark the archive as used: archives of other builds unused for PRUNE_DAYS are removed (see `_prune`)."""
    try:
        os.utime(archive)
    except OSError:
        pass


def _prune(kept: Path) -> None:
    """Keep `kept` and at most KEEP_OTHERS other archives (about 180 MB each), none unused for PRUNE_DAYS."""
    cutoff = time.time() - PRUNE_DAYS * 86_400
    others = []
    for other in kept.parent.glob("spark-driver-*.jsa"):
        try:
            if other != kept:
                others.append((other.stat().st_mtime, other))
        except OSError:
            pass
    # Every new virtual environment is a new build (its own jar files): without a bound, they add up.
    for rank, (used, other) in enumerate(sorted(others, reverse=True)):
        if rank >= KEEP_OTHERS or used < cutoff:
            try:
                other.unlink()
            except OSError:
                pass
