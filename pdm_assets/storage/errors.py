"""What the table store refuses, each with a message that names the table and what to do."""
from __future__ import annotations


class TableNotFoundError(LookupError):
    """A table was read before it was ever written."""


class SchemaMismatchError(ValueError):
    """Rows for a partitioned table drop a column or change its type."""


class RowsOutsideDaysError(ValueError):
    """A write meant to replace some days carries rows of other days."""


class ConcurrentWriteError(RuntimeError):
    """Another writer kept committing to the same days of a table; this write gave up."""


class DeltaJarsUnavailableError(RuntimeError):
    """Delta Lake's jars are neither in Spark's local cache nor downloadable."""
