"""The embedded session: its Python workers run the project's environment."""
from __future__ import annotations

import sys

from pyspark.sql import functions as F
from pyspark.sql.types import StringType


def test_python_workers_run_the_interpreter_of_the_project_environment(spark):
    interpreter = F.udf(lambda: __import__("sys").executable, StringType())
    [row] = spark.range(1).select(interpreter().alias("python")).collect()
    assert row["python"] == sys.executable
