"""The local tables by name in a user's own Spark session: `spark.table("pdm.failure_predictions")`.

Spark keeps local table names in memory per session, so a new session learns them here (a metadata
operation per table: no data is read or copied).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pyspark.sql import SparkSession

from pdm_assets.home import pdm_home, warehouse
from pdm_assets.storage.catalogs import LOCAL_SCHEMA, LocalCatalog


def register_tables(spark: SparkSession, warehouse: Path, schema: str = LOCAL_SCHEMA) -> list[str]:
    """Name every Delta table under `<warehouse>/<schema>` as `<schema>.<table>` in `spark`; return the names."""
    catalog = LocalCatalog(Path(warehouse), schema)
    folder = Path(warehouse) / schema
    tables = sorted(p.name for p in folder.iterdir() if (p / "_delta_log").is_dir()) if folder.is_dir() else []
    for table in tables:
        catalog.register(spark, table)
    return [catalog.name(t) for t in tables]


def open_session(home: Optional[Path] = None, master: str = "local[*]") -> SparkSession:
    """A Spark session with Delta Lake in which the tables of `home` (default: $PDM_HOME) have their names."""
    from pdm_assets.storage.spark_session import create_spark_session

    spark = create_spark_session(master=master)
    register_tables(spark, warehouse(Path(home).expanduser().resolve() if home else pdm_home()))
    return spark
