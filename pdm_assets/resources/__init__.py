"""The Dagster resources the assets ask for: Spark, tables and the IO manager, landing zone, MLflow, scoring model."""
