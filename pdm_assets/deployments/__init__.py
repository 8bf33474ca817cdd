"""The one environment switch, PDM_DEPLOYMENT = local | connect | databricks, and what differs per deployment.

- `settings.py`: `Settings.from_env`, every PDM_* variable read and checked once, at build time;
- `resources.py`: the one resource builder; what differs per deployment is data (`Placement`);
- `databricks.py`, `wheel.py`: the Databricks deployment's settings and the project wheel it installs;
- `instance.py`: the Dagster instance's batched event-log storage (named in dagster.yaml).
"""
from pdm_assets.deployments.settings import DEPLOYMENTS, Settings, utc_today

__all__ = ["DEPLOYMENTS", "Settings", "utc_today"]
