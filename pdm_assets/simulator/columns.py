"""The landing-file column names of DESIGN §3, duplicated from `pipeline.schemas` on purpose.

`pipeline.schemas` imports `pyspark.sql.types`; the simulator stays importable without Spark,
so it carries its own copy of these few strings. A test asserts that both copies agree.
"""
from __future__ import annotations

COMPONENTS = ("comp1", "comp2", "comp3", "comp4")
ERROR_IDS = ("error1", "error2", "error3", "error4", "error5")
MACHINE_MODELS = ("model1", "model2", "model3", "model4")
SIGNALS = ("volt", "rotate", "pressure", "vibration")

TELEMETRY, ERRORS, MAINT, FAILURES, MACHINES = "telemetry", "errors", "maint", "failures", "machines"
DAILY_DATASETS = (TELEMETRY, ERRORS, MAINT, FAILURES)

# Published CSV header of each dataset, in column order.
COLUMNS: dict[str, tuple[str, ...]] = {
    TELEMETRY: ("datetime", "machineID", *SIGNALS),
    ERRORS: ("datetime", "machineID", "errorID"),
    MAINT: ("datetime", "machineID", "comp"),
    FAILURES: ("datetime", "machineID", "failure"),
    MACHINES: ("machineID", "model", "age"),
}

# The categorical vocabulary of each event dataset's last column.
EVENT_CODES: dict[str, tuple[str, ...]] = {ERRORS: ERROR_IDS, MAINT: COMPONENTS, FAILURES: COMPONENTS}
