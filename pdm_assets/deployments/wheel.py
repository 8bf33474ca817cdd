"""The project wheel for Databricks clusters: built from the source tree, named by its content.

The cluster installs the wheel as a library; an existing cluster keeps a library it has installed
from a path, so the path carries a digest of the sources: changed code gets a new path and is
installed, unchanged code is neither rebuilt nor uploaded again.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

import pdm_assets

WHEEL_BUILD = "build"  # PDM_DATABRICKS_WHEEL default: build the wheel from this source tree
WHEEL_NONE = "none"  # no project wheel: the zipped package the launcher uploads per step is enough
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md")
# Local commands (pdm-demo, benchmarks, screenshots, the Connect server): never shipped to a cluster,
# so editing them neither changes the wheel's digest nor reinstalls it.
LOCAL_ONLY = ("tools",)
_NOT_SOURCES = ("__pycache__", ".pytest_cache")


def _shipped(path: Path, package: Path) -> bool:
    """Whether a file of the package runs on a cluster: the one rule for the wheel's copy and its digest."""
    parts = path.relative_to(package).parts
    return (not (parts and parts[0] in LOCAL_ONLY) and not any(p in _NOT_SOURCES for p in parts)
            and path.suffix != ".pyc")


def shipped_files(package: Path) -> list[Path]:
    """The package's files that run on a cluster (everything but `LOCAL_ONLY` and caches), sorted."""
    return sorted(p for p in package.rglob("*") if p.is_file() and _shipped(p, package))


def copy_shipped_package(package: Path, target: Path) -> Path:
    """Copy what of the package runs on a cluster to `target`; return `target`."""
    for path in shipped_files(package):
        copy = target / path.relative_to(package)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    return target


class WheelBuildError(RuntimeError):
    """The project wheel could not be built."""


def source_root() -> Optional[Path]:
    """The source tree this package runs from, or None when it was installed without one (or runs remotely)."""
    root = Path(pdm_assets.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _sources(root: Path) -> list[Path]:
    files = shipped_files(root / "pdm_assets")
    return sorted(files + [root / name for name in BUILD_FILES if (root / name).is_file()])


def source_digest(root: Path) -> str:
    """12 hex digits over the package's files and the build metadata (paths and contents)."""
    digest = hashlib.sha256()
    for path in _sources(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def wheel_name(root: Path) -> str:
    """The file name setuptools gives the wheel (pure Python, so py3-none-any)."""
    found = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.MULTILINE)
    if not found:
        raise WheelBuildError(f"{root / 'pyproject.toml'}: no version = \"...\" line")
    return f"pdm_assets-{found.group(1)}-py3-none-any.whl"


def built_wheel(root: Path, cache: Optional[Path] = None) -> Path:
    """The wheel of the sources as they are now, built once per digest into `cache` (a temp folder by default)."""
    target = (cache or Path(tempfile.gettempdir()) / "pdm_assets_wheels") / source_digest(root) / wheel_name(root)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pdm_assets_wheel_") as work:
        # Build from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
        copy = Path(work) / "src"
        copy.mkdir()
        for name in BUILD_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, copy / name)
        copy_shipped_package(root / "pdm_assets", copy / "pdm_assets")
        out = Path(work) / "dist"
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(copy)],
                              capture_output=True, text=True)
        wheels = list(out.glob("*.whl"))
        if done.returncode or len(wheels) != 1:
            raise WheelBuildError(f"building the pdm_assets wheel from {root} failed (pip exit {done.returncode}):\n"
                                  f"{done.stderr[-3000:]}")
        if wheels[0].name != target.name:
            raise WheelBuildError(f"pip built {wheels[0].name}, expected {target.name}")
        shutil.move(str(wheels[0]), target.with_suffix(".partial"))
        target.with_suffix(".partial").rename(target)  # atomic: a concurrent run never sees half a wheel
    return target


def wheel_to_upload(setting: str, already_there: Callable[[], bool]) -> Optional[Path]:
    """The local wheel a run uploads for PDM_DATABRICKS_WHEEL (`build` or a .whl file); None when the
    built digest is there already (`already_there` asks the workspace). Both runners stage through it."""
    if setting != WHEEL_BUILD:
        path = Path(setting)
        if not path.is_file():
            raise FileNotFoundError(f"PDM_DATABRICKS_WHEEL={setting}: no such wheel file")
        return path
    root = source_root()
    if root is None:
        raise WheelBuildError(
            "PDM_DATABRICKS_WHEEL=build (the default) builds the wheel from the source tree, but pdm_assets "
            f"runs from {Path(pdm_assets.__file__).parent} without one: install it editable (pip install -e .), "
            "or set PDM_DATABRICKS_WHEEL to a built wheel (or, with the step launcher, to none).")
    return None if already_there() else built_wheel(root)
