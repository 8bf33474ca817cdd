"""Fixtures for the automation tests."""
from __future__ import annotations

import pytest
from pyspark import SparkContext


@pytest.fixture
def no_spark_started():
    """Fail a test that starts Spark: sensors and schedules only look at files and Dagster state.

    Other modules may already hold the session-wide Spark, so the check is that none is *started*.
    """
    before = SparkContext._active_spark_context
    yield
    assert SparkContext._active_spark_context is before, "sensors and schedules must not start Spark"
