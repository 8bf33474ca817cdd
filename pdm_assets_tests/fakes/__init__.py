"""Test doubles; `DatabricksEmulator` is a loopback Databricks REST API (DBFS, job runs, clusters)."""
from .databricks_api import DatabricksEmulator

__all__ = ["DatabricksEmulator"]
