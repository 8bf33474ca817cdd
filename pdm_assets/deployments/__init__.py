"""The one environment switch, PDM_DEPLOYMENT = local | connect | databricks, and what differs per deployment.

- `settings.py`: `Settings.from_env`, every PDM_* variable read and checked once, at build time;
- `resources.py`: the one resource builder; what differs per deployment is data (`Placement`);
- `databricks.py`, `wheel.py`: the Databricks deployment's settings and the project wheel it installs;
- `instance.py`: the Dagster instance's batched event-log storage (named in dagster.yaml).
"""
from __future__ import annotations

from typing import Any

__all__ = ["DEPLOYMENTS", "Settings", "utc_today"]


def __getattr__(name: str) -> Any:
    # Resolved on first use: the Dagster instance loads `deployments.instance` (named in dagster.yaml)
    # in every process, daemon included, and must not import Spark and the settings with it.
    if name in __all__:
        from pdm_assets.deployments import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'pdm_assets.deployments' has no attribute '{name}'")
