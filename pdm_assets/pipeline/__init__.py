"""Pure PySpark and MLlib logic: no dagster import anywhere in this package."""
