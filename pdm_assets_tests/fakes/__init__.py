"""Test doubles; `DatabricksEmulator` is a loopback Databricks REST API (DBFS, UC Volumes, job runs, clusters)."""
from .databricks_api import DatabricksEmulator

__all__ = ["DatabricksEmulator"]
