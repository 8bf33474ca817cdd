"""Predictive-maintenance batch scoring as Dagster software-defined assets on Spark."""
