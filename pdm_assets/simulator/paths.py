"""Where the landing zone is, and the simulator's own files in it.

Day files, `machines/machines.csv` and `maint/history.csv` are named by
`pdm_assets.pipeline.landing_files` (the reader's side of the contract); this module only adds
the default folder and the simulator manifest.
"""
from __future__ import annotations

import os
from pathlib import Path

from pdm_assets.home import landing_dir
from pdm_assets.pipeline.landing_files import MACHINES_FILE, MAINT_HISTORY_FILE, day_file

__all__ = [
    "MACHINES_FILE",
    "MAINT_HISTORY_FILE",
    "MANIFEST_FILE",
    "UNDATED_FILE",
    "day_file",
    "default_landing_dir",
]

MANIFEST_FILE = "_simulator.json"
# Lines of a bulk file whose datetime cannot be read; a leading underscore keeps the name out
# of the day-file pattern, so the sensor ignores it while a person can still find it.
UNDATED_FILE = "_undated.csv"


def default_landing_dir() -> Path:
    """`$PDM_LANDING_DIR`, else `$PDM_HOME/landing`, else `~/.pdm_assets/landing` (as the definitions resolve it)."""
    return landing_dir(os.environ)
