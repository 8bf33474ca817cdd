"""Where the project keeps its files: PDM_HOME and the landing zone, resolved the same way by every entry point."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping


def pdm_home(environ: Mapping[str, str] = os.environ) -> Path:
    """`$PDM_HOME`, else `~/.pdm_assets`: tables, models, the Dagster instance of `pdm-demo`."""
    return Path(environ.get("PDM_HOME") or Path.home() / ".pdm_assets").expanduser().resolve()


def landing_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """`$PDM_LANDING_DIR`, else `<PDM_HOME>/landing`."""
    return Path(environ.get("PDM_LANDING_DIR") or pdm_home(environ) / "landing").expanduser().resolve()


def warehouse(home: Path) -> Path:
    """Where the local Delta tables live under a PDM_HOME (`<warehouse>/pdm/<table>`)."""
    return home / "warehouse"
