"""What the storage tests share: a small partitioned frame of (machine_id, value, date) rows."""
from __future__ import annotations

from datetime import date

D1, D2, D3 = date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)


def frame(spark, rows):
    """A DataFrame of (machine_id int, value string, date date) rows."""
    return spark.createDataFrame(rows, "machine_id int, value string, date date")
