"""Landing-file columns and typed raw-table schemas: the data contract of DESIGN §3."""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
ERROR_IDS = ("error1", "error2", "error3", "error4", "error5")
COMPONENTS = ("comp1", "comp2", "comp3", "comp4")
MACHINE_MODELS = ("model1", "model2", "model3", "model4")
SIGNALS = ("volt", "rotate", "pressure", "vibration")
PARTITION_COLUMN = "date"


@dataclass(frozen=True)
class Field:
    """One landing-file column and the raw-table column it becomes."""

    source: str  # the column name in the published CSV header
    name: str  # the snake_case name in the raw table
    kind: str  # "timestamp" | "int" | "double" | "category"
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """A landing dataset: its CSV columns, key and where its files live."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # raw-table columns that identify a row
    daily: bool = True

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(f.source for f in self.fields)

    @property
    def table(self) -> str:
        return f"raw_{self.name}"


_DATETIME = Field("datetime", "datetime", "timestamp")
_MACHINE = Field("machineID", "machine_id", "int")

TELEMETRY = Dataset(
    "telemetry",
    (_DATETIME, _MACHINE, *(Field(s, s, "double") for s in SIGNALS)),
    key=("datetime", "machine_id"),
)
ERRORS = Dataset(
    "errors",
    (_DATETIME, _MACHINE, Field("errorID", "error_id", "category", ERROR_IDS)),
    key=("datetime", "machine_id", "error_id"),
)
MAINT = Dataset(
    "maint",
    (_DATETIME, _MACHINE, Field("comp", "comp", "category", COMPONENTS)),
    key=("datetime", "machine_id", "comp"),
)
FAILURES = Dataset(
    "failures",
    (_DATETIME, _MACHINE, Field("failure", "failure", "category", COMPONENTS)),
    key=("datetime", "machine_id", "failure"),
)
MACHINES = Dataset(
    "machines",
    (_MACHINE, Field("model", "model", "category", MACHINE_MODELS), Field("age", "age", "int")),
    key=("machine_id",),
    daily=False,
)
EVENT_DATASETS = (TELEMETRY, ERRORS, MAINT, FAILURES)
DATASETS = {d.name: d for d in (*EVENT_DATASETS, MACHINES)}

_SPARK_TYPES = {
    "timestamp": TimestampType(),
    "int": IntegerType(),
    "double": DoubleType(),
    "category": StringType(),
}


def raw_schema(dataset: Dataset) -> StructType:
    """Schema of a raw table: typed columns, lineage columns, and the date partition if daily."""
    fields = [StructField(f.name, _SPARK_TYPES[f.kind], nullable=False) for f in dataset.fields]
    fields += [
        StructField("source_file", StringType(), nullable=False),
        StructField("ingested_at", TimestampType(), nullable=False),
    ]
    if dataset.daily:
        fields.append(StructField(PARTITION_COLUMN, DateType(), nullable=False))
    return StructType(fields)
