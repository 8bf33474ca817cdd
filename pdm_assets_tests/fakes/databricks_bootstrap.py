"""Entry point of an emulated `spark_python_task`: Databricks globals and `/dbfs` paths, then the script.

Run as `python databricks_bootstrap.py <script> [params...]` by the emulator; standalone on purpose
(stdlib only, pyspark imported lazily) because it executes in a fresh interpreter.
Environment: DATABRICKS_EMULATOR_DBFS_ROOT (required), DATABRICKS_EMULATOR_SECRETS (JSON
`{scope: {key: value}}`), DATABRICKS_EMULATOR_SPARK_CONF (JSON, the cluster's spark_conf),
DATABRICKS_EMULATOR_RUNTIME_CONF (JSON, what the runtime itself configures: Delta Lake's jars and
extensions), DATABRICKS_EMULATOR_CATALOG_ROOT (a folder of `<schema>/<table>` Delta tables that the
session knows by name, standing in for Unity Catalog), DATABRICKS_EMULATOR_SPARK_MASTER.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import runpy
import shutil
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(os.environ["DATABRICKS_EMULATOR_DBFS_ROOT"])


def fuse_path(path: Any) -> Any:
    """Map the driver's FUSE mount `/dbfs/x` to `<root>/x`; anything else passes through untouched."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str) and (path == "/dbfs" or path.startswith("/dbfs/")):
        return str(ROOT / path[len("/dbfs"):].lstrip("/"))
    return path


def dbfs_path(path: str) -> Path:
    """dbutils' view: `dbfs:/x` and a bare `/x` are DBFS, `file:/x` is the driver's local disk."""
    if path.startswith("file:"):
        return Path(path[len("file:"):])
    if path.startswith("dbfs:"):
        path = path[len("dbfs:"):]
    return ROOT / path.lstrip("/")


def _patch_fuse_mount() -> None:
    """Wrap the file APIs user code reaches /dbfs through (open, os.stat & co., hence pathlib/shutil)."""
    def mapped(func: Any, count: int) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*[fuse_path(a) for a in args[:count]], *args[count:], **kwargs)
        return wrapper

    builtins.open = io.open = mapped(io.open, 1)  # gzip uses builtins.open, zipfile uses io.open
    for name in ("stat", "lstat", "mkdir", "listdir", "scandir", "remove", "unlink", "rmdir", "access"):
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


def main(argv: list[str]) -> None:
    """Run `argv[1]` as `__main__` with `sys.argv = argv[1:]`, like Databricks runs a python_file."""
    script = argv[1]
    _patch_fuse_mount()
    sys.argv = argv[1:]
    # The script's folder replaces ours on sys.path, as if Python had been started on the script itself.
    sys.path[0] = os.path.dirname(os.path.abspath(fuse_path(script)))
    print(f"[emulator] {time.strftime('%H:%M:%S')} running {script}", file=sys.stderr, flush=True)
    if os.environ.get("DATABRICKS_EMULATOR_RUNTIME_CONF", "{}") != "{}":
        # A runtime with Spark: as on a Databricks driver, the session exists (and is active) before the code runs.
        _LazySpark.start()
    try:
        runpy.run_path(script, init_globals={"dbutils": DBUtils(), "spark": _LazySpark(None),
                                             "sc": _LazySpark("sparkContext")}, run_name="__main__")
    finally:
        if _LazySpark.session is not None:
            _LazySpark.session.stop()


if __name__ == "__main__":
    main(sys.argv)
