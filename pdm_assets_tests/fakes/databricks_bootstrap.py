"""Entry point of an emulated task: Databricks globals, `/dbfs` and `/Volumes` paths, then the task's code.

Run by the emulator as `python databricks_bootstrap.py <script> [params...]` (spark_python_task) or
`python databricks_bootstrap.py --python-wheel <package_name> <entry_point> [params...]`
(python_wheel_task, the wheel already extracted onto PYTHONPATH); standalone on purpose (stdlib
only, pyspark imported lazily) because it executes in a fresh interpreter.
Environment: DATABRICKS_EMULATOR_DBFS_ROOT (required), DATABRICKS_EMULATOR_SECRETS (JSON
`{scope: {key: value}}`), DATABRICKS_EMULATOR_SPARK_CONF (JSON, the cluster's spark_conf),
DATABRICKS_EMULATOR_RUNTIME_CONF (JSON, what the runtime itself configures: Delta Lake's jars and
extensions), DATABRICKS_EMULATOR_CATALOG_ROOT (a folder of `<schema>/<table>` Delta tables that the
session knows by name, standing in for Unity Catalog), DATABRICKS_EMULATOR_SPARK_MASTER.
"""
from __future__ import annotations

import builtins
import errno
import importlib
import importlib.metadata
import io
import json
import os
import runpy
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(os.environ["DATABRICKS_EMULATOR_DBFS_ROOT"])
WHEEL_TASK = "--python-wheel"  # databricks_runner.WHEEL_TASK
STAGING = ROOT / ".databricks_emulator" / "fuse-writes"  # databricks_dbfs.INTERNAL_DIR: same disk as the volumes
_io_open = io.open


def fuse_path(path: Any) -> Any:
    """Map the driver's FUSE mounts, `/dbfs/x` to `<root>/x` and `/Volumes/x` to `<root>/Volumes/x`; else untouched."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str):
        if path == "/dbfs" or path.startswith("/dbfs/"):
            return str(ROOT / path[len("/dbfs"):].lstrip("/"))
        if path == "/Volumes" or path.startswith("/Volumes/"):
            return str(ROOT / path.lstrip("/"))
    return path


def dbfs_path(path: str) -> Path:
    """dbutils' view: `dbfs:/x` and a bare `/x` are DBFS, `file:/x` is the driver's local disk."""
    if path.startswith("file:"):
        return Path(path[len("file:"):])
    if path.startswith("dbfs:"):
        path = path[len("dbfs:"):]
    return ROOT / path.lstrip("/")


class _PublishedOnClose(io.FileIO):
    """A file written through the /Volumes mount: staged, and moved into place on close.

    Volumes sit on object storage, where a file appears whole once its writer closes it; so a
    reader polling the Files API (a Pipes message reader) never downloads half a chunk.
    """

    def __init__(self, target: str, exclusive: bool) -> None:
        if os.path.isdir(target):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), target)
        if not os.path.isdir(os.path.dirname(target)):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), target)
        if exclusive and os.path.exists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
        STAGING.mkdir(parents=True, exist_ok=True)
        handle, self._staged = tempfile.mkstemp(dir=STAGING)
        os.close(handle)
        super().__init__(self._staged, "w")
        self._target = target

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.replace(self._staged, self._target)


def _open(file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None, errors: str | None = None,
          newline: str | None = None, closefd: bool = True, opener: Any = None) -> Any:
    """`open` on the driver: FUSE paths mapped; a /Volumes file opened for writing appears when closed."""
    path = fuse_path(file)
    volume = isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith("/Volumes/")
    if not (volume and set(mode) & {"w", "x"} and "+" not in mode and opener is None):
        return _io_open(path, mode, buffering, encoding, errors, newline, closefd, opener)
    raw = _PublishedOnClose(path, exclusive="x" in mode)
    if buffering == 0 and "b" in mode:
        return raw
    buffered = io.BufferedWriter(raw, buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE)
    if "b" in mode:
        return buffered
    return io.TextIOWrapper(buffered, encoding, errors, newline, line_buffering=buffering == 1)


def _patch_fuse_mount() -> None:
    """Wrap the file APIs user code reaches the mounts through (open, os.stat & co., hence pathlib/shutil)."""
    def mapped(func: Any, count: int) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*[fuse_path(a) for a in args[:count]], *args[count:], **kwargs)
        return wrapper

    builtins.open = io.open = _open  # gzip uses builtins.open, zipfile uses io.open
    # os.open too: shutil.rmtree and tempfile work through file descriptors.
    for name in ("stat", "lstat", "mkdir", "listdir", "scandir", "remove", "unlink", "rmdir", "access", "open"):
        setattr(os, name, mapped(getattr(os, name), 1))
    for name in ("rename", "replace"):
        setattr(os, name, mapped(getattr(os, name), 2))


class FileInfo(NamedTuple):
    """What `dbutils.fs.ls` returns per entry."""

    path: str
    name: str
    size: int
    modificationTime: int  # noqa: N815 - Databricks' spelling


class _Fs:
    """The subset of `dbutils.fs` jobs use: ls, head, put, cp, mv, mkdirs, rm."""

    def ls(self, path: str) -> list[FileInfo]:
        local = dbfs_path(path)
        if not local.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {path} does not exist.")
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        return [self._info(entry) for entry in entries if entry.name != ".databricks_emulator"]

    @staticmethod
    def _info(entry: Path) -> FileInfo:
        suffix = "/" if entry.is_dir() else ""
        stat = entry.stat()
        rel = entry.relative_to(ROOT).as_posix() if entry.is_relative_to(ROOT) else None
        path = f"dbfs:/{rel}{suffix}" if rel is not None else f"file:{entry}{suffix}"
        return FileInfo(path, entry.name + suffix, 0 if suffix else stat.st_size, int(stat.st_mtime * 1000))

    def head(self, file: str, maxBytes: int = 65536) -> str:  # noqa: N803 - Databricks' spelling
        with open(dbfs_path(file), "rb") as handle:
            return handle.read(maxBytes).decode("utf-8", errors="replace")

    def put(self, file: str, contents: str, overwrite: bool = False) -> bool:
        local = dbfs_path(file)
        if local.exists() and not overwrite:
            raise FileExistsError(f"java.io.IOException: File already exists: {file}")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(contents)
        return True

    def mkdirs(self, dir: str) -> bool:  # noqa: A002 - Databricks' spelling
        dbfs_path(dir).mkdir(parents=True, exist_ok=True)
        return True

    def rm(self, dir: str, recurse: bool = False) -> bool:  # noqa: A002
        local = dbfs_path(dir)
        if not local.exists():
            return False
        if local.is_dir():
            if any(local.iterdir()) and not recurse:
                raise OSError(f"java.io.IOException: Directory {dir} is not empty; use recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True

    def cp(self, from_: str, to: str, recurse: bool = False) -> bool:
        src, dst = dbfs_path(from_), dbfs_path(to)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if not recurse:
                raise OSError(f"java.io.IOException: {from_} is a directory; use recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst)
        return True

    def mv(self, from_: str, to: str, recurse: bool = False) -> bool:
        self.cp(from_, to, recurse=recurse)
        return self.rm(from_, recurse=True)


class _Secrets:
    """`dbutils.secrets` backed by the emulator's configured secrets."""

    def __init__(self) -> None:
        self._scopes: dict[str, dict[str, str]] = json.loads(os.environ.get("DATABRICKS_EMULATOR_SECRETS", "{}"))

    def get(self, scope: str, key: str) -> str:
        try:
            return self._scopes[scope][key]
        except KeyError:
            raise ValueError(f"IllegalArgumentException: Secret does not exist with scope: {scope} "
                             f"and key: {key}") from None

    def list(self, scope: str) -> list[str]:
        return sorted(self._scopes.get(scope, {}))


class DBUtils:
    """The `dbutils` global of a Databricks driver."""

    def __init__(self) -> None:
        self.fs = _Fs()
        self.secrets = _Secrets()


class _LazySpark:
    """Stands in for `spark`/`sc`: the local session starts on first use, so Spark-free tasks pay no JVM."""

    session: Any = None

    def __init__(self, attribute: str | None) -> None:
        self._attribute = attribute  # "sparkContext" for sc, None for the session itself

    @classmethod
    def start(cls) -> Any:
        """The local SparkSession, created with the submitted cluster's spark_conf on first use."""
        if cls.session is None:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.master(os.environ.get("DATABRICKS_EMULATOR_SPARK_MASTER", "local[2]"))
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # a cluster's workers run its one Python
            conf = {"spark.ui.enabled": "false",
                    **json.loads(os.environ.get("DATABRICKS_EMULATOR_RUNTIME_CONF", "{}")),
                    **json.loads(os.environ.get("DATABRICKS_EMULATOR_SPARK_CONF", "{}"))}
            for key, value in conf.items():
                builder = builder.config(key, value)
            cls.session = builder.getOrCreate()
            if os.environ.get("DATABRICKS_EMULATOR_CATALOG_ROOT"):
                _name_tables(cls.session, Path(os.environ["DATABRICKS_EMULATOR_CATALOG_ROOT"]))
        return cls.session

    def __getattr__(self, name: str) -> Any:
        target = self.start()
        return getattr(target if self._attribute is None else getattr(target, self._attribute), name)


def _name_tables(session: Any, root: Path) -> None:
    """The catalog a workspace keeps between runs: every `<root>/<schema>/<table>` Delta folder by name.

    A schema's location is its folder, so a table the run creates (saveAsTable) lands there too and
    is known to the next run's session.
    """
    root.mkdir(parents=True, exist_ok=True)
    for schema in sorted(p for p in root.iterdir() if p.is_dir()):
        session.sql(f"CREATE DATABASE IF NOT EXISTS {schema.name} LOCATION '{schema}'")
        for table in sorted(p for p in schema.iterdir() if (p / "_delta_log").is_dir()):
            session.sql(f"CREATE TABLE IF NOT EXISTS {schema.name}.{table.name} USING DELTA LOCATION '{table}'")


def wheel_entry_point(package: str, name: str) -> Callable[[], Any]:
    """`name` among the package's console_scripts, else the function `name` of its top-level module, as Databricks."""
    try:
        scripts = importlib.metadata.distribution(package).entry_points.select(group="console_scripts")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"python_wheel_task: package {package} is not installed; install its wheel as a library "
                           "(or an environment dependency on serverless)") from None
    for script in scripts:
        if script.name == name:
            return script.load()
    module = importlib.import_module(package.replace("-", "_"))
    function = getattr(module, name, None)
    if not callable(function):
        raise RuntimeError(f"python_wheel_task: no entry point {name} in package {package}: its console_scripts are "
                           f"{sorted(s.name for s in scripts) or 'none'} and {module.__name__} has no function {name}")
    return function


def main(argv: list[str]) -> None:
    """Run a python_file as `__main__` with `sys.argv = argv[1:]`, or a wheel's entry point with `[entry, *params]`."""
    _patch_fuse_mount()
    driver = {"dbutils": DBUtils(), "spark": _LazySpark(None), "sc": _LazySpark("sparkContext")}
    wheel = argv[1] == WHEEL_TASK
    if wheel:
        package, entry_point = argv[2], argv[3]
        sys.argv = [entry_point, *argv[4:]]
        # No script folder: the wheel's code comes from PYTHONPATH (the extracted wheel), never from this folder.
        del sys.path[0]
        # A wheel's modules get no injected globals, so the driver's names are builtins, reachable from any module.
        for name, value in driver.items():
            setattr(builtins, name, value)
        label = f"python_wheel_task {package}:{entry_point}"
    else:
        script = label = argv[1]
        sys.argv = argv[1:]
        # The script's folder replaces ours on sys.path, as if Python had been started on the script itself.
        sys.path[0] = os.path.dirname(os.path.abspath(fuse_path(script)))
    print(f"[emulator] {time.strftime('%H:%M:%S')} running {label}", file=sys.stderr, flush=True)
    if os.environ.get("DATABRICKS_EMULATOR_RUNTIME_CONF", "{}") != "{}":
        # A runtime with Spark: as on a Databricks driver, the session exists (and is active) before the code runs.
        _LazySpark.start()
    try:
        if wheel:
            wheel_entry_point(package, entry_point)()  # its return value is ignored; SystemExit still counts
        else:
            runpy.run_path(script, init_globals=driver, run_name="__main__")
    finally:
        if _LazySpark.session is not None:
            _LazySpark.session.stop()


if __name__ == "__main__":
    main(sys.argv)
