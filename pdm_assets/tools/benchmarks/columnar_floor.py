"""The yardstick of a backfill: the same features and labels computed by DuckDB from the same landing files.

DuckDB (a columnar engine in this process, no JVM, no table format, no orchestration) reads the
landing CSVs and computes machine_features and failure_labels for the same days with the same
rules: readings put in b-hour blocks, window sums over the blocks, the latest replacement carried
forward, each failure spread over the grid points it labels. What it takes is the floor the
project's backfill is measured against. `compare` then checks every grid point of both value by
value, so the floor is known to compute the same thing.

Needs the benchmark extra: `pip install -e ".[bench]"`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, time as clock, timedelta
from pathlib import Path

from pdm_assets.names import FAILURE_LABELS, MACHINE_FEATURES
from pdm_assets.pipeline.features import FeatureParams, feature_columns
from pdm_assets.pipeline.labels import LabelParams
from pdm_assets.pipeline.schemas import COMPONENTS, ERROR_IDS, SIGNALS
from pdm_assets.storage import delta_log
from pdm_assets.storage.delta_store import DeltaTableStore

# Relative tolerance of the value comparison: Spark and DuckDB sum doubles in different orders.
TOLERANCE = 1e-9
TEXT_COLUMNS = ("model", "label")


@dataclass(frozen=True)
class Floor:
    """What the columnar engine computed, and how long it took."""

    seconds: float
    feature_rows: int
    label_rows: int


def _connect():
    try:
        import duckdb
    except ImportError as err:  # a benchmark dependency, not the project's
        raise SystemExit('The columnar floor needs DuckDB: pip install -e ".[bench]"') from err
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Spark's session zone: timestamps are UTC wall-clock times
    return con


def _csv(landing: Path, dataset: str, columns: dict[str, str], files: str = "*.csv") -> str:
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    return f"read_csv('{landing / dataset / files}', header=true, columns={{{types}}})"


MAINT_COLUMNS = {"datetime": "TIMESTAMP", "machineID": "INTEGER", "comp": "VARCHAR"}
HISTORY = "history.csv"


def _history_start(con, landing: Path, first_day: date) -> datetime:
    """Midnight of the earliest pre-timeline replacement, or the first day (as the features asset does)."""
    first = datetime.combine(first_day, clock())
    if not (landing / "maint" / HISTORY).is_file():
        return first
    earliest = con.execute(f"SELECT min(datetime) FROM {_csv(landing, 'maint', MAINT_COLUMNS, HISTORY)}").fetchone()[0]
    return datetime.combine(earliest.date(), clock()) if earliest is not None and earliest < first else first


def compute(con, landing: Path, first_day: date, last_day: date, features: FeatureParams = FeatureParams(),
            labels: LabelParams = LabelParams()) -> Floor:
    """Tables `floor_features` and `floor_labels` in `con` for the days first_day..last_day."""
    began = time.perf_counter()
    block_s = features.block_hours * 3600
    short_blocks, long_blocks = features.short_window_hours // features.block_hours, \
        features.long_window_hours // features.block_hours
    start = datetime.combine(first_day, clock())
    end = datetime.combine(last_day + timedelta(days=1), clock())
    history_start = _history_start(con, landing, first_day)
    telemetry = _csv(landing, "telemetry", {"datetime": "TIMESTAMP", "machineID": "INTEGER",
                                            **{s: "DOUBLE" for s in SIGNALS}})
    errors = _csv(landing, "errors", {"datetime": "TIMESTAMP", "machineID": "INTEGER", "errorID": "VARCHAR"})
    replacements = f"SELECT * FROM {_csv(landing, 'maint', MAINT_COLUMNS, '*-*-*.csv')}"
    if (landing / "maint" / HISTORY).is_file():
        replacements += f" UNION ALL SELECT * FROM {_csv(landing, 'maint', MAINT_COLUMNS, HISTORY)}"
    machines = (f"read_csv('{landing / 'machines' / 'machines.csv'}', header=true, "
                "columns={'machineID': 'INTEGER', 'model': 'VARCHAR', 'age': 'INTEGER'})")
    lookback = start - timedelta(hours=features.long_window_hours)
    con.execute(f"CREATE OR REPLACE TEMP TABLE floor_machines AS SELECT * FROM {machines}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE floor_grid AS
        SELECT m.machineID AS machine_id, g.t AS timestamp
        FROM floor_machines m,
             (SELECT unnest(generate_series(TIMESTAMP '{start}', TIMESTAMP '{end}' - INTERVAL 1 SECOND,
                                            INTERVAL {features.cadence_hours} HOUR)) AS t) g""")
    block = f"CAST(ceil(epoch(datetime) / {block_s}) AS BIGINT)"
    signal_sums = ", ".join(f"count({s}) AS n_{s}, sum({s}) AS s_{s}, sum({s} * {s}) AS q_{s}" for s in SIGNALS)
    error_counts = ", ".join(f"count(*) FILTER (WHERE errorID = '{e}') AS e_{e}" for e in ERROR_IDS)
    latest = ", ".join(f"max(datetime) FILTER (WHERE comp = '{c}') AS r_{c}" for c in COMPONENTS)
    signal_names = [f"{p}_{s}" for s in SIGNALS for p in "nsq"]
    error_names, replacement_names = [f"e_{e}" for e in ERROR_IDS], [f"r_{c}" for c in COMPONENTS]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE floor_blocks AS
        SELECT machine_id, k, {", ".join(f"sum({n}) AS {n}" for n in signal_names)},
               {", ".join(f"sum({n}) AS {n}" for n in error_names)},
               {", ".join(f"max({n}) AS {n}" for n in replacement_names)}, max(is_grid) AS is_grid
        FROM (
            SELECT machineID AS machine_id, {block} AS k, {signal_sums}, 0 AS is_grid
            FROM {telemetry} WHERE datetime > TIMESTAMP '{lookback}' AND datetime < TIMESTAMP '{end}' GROUP BY ALL
            UNION ALL BY NAME
            SELECT machineID AS machine_id, {block} AS k, {error_counts}, 0 AS is_grid
            FROM {errors} WHERE datetime > TIMESTAMP '{lookback}' AND datetime < TIMESTAMP '{end}' GROUP BY ALL
            UNION ALL BY NAME
            SELECT machineID AS machine_id, {block} AS k, {latest}, 0 AS is_grid
            FROM ({replacements}) WHERE datetime < TIMESTAMP '{end}' GROUP BY ALL
            UNION ALL BY NAME
            SELECT machine_id, CAST(ceil(epoch(timestamp) / {block_s}) AS BIGINT) AS k, 1 AS is_grid FROM floor_grid
        ) GROUP BY machine_id, k""")

    def window(blocks: int) -> str:
        return f"OVER (PARTITION BY machine_id ORDER BY k RANGE BETWEEN {blocks - 1} PRECEDING AND CURRENT ROW)"

    stats = []
    for blocks, hours in ((short_blocks, features.short_window_hours), (long_blocks, features.long_window_hours)):
        for s in SIGNALS:
            n, total, squares = (f"sum({p}_{s}) {window(blocks)}" for p in "nsq")
            stats.append(f"CASE WHEN {n} > 0 THEN {total} / {n} END AS {s}_mean_{hours}h")
            stats.append(f"CASE WHEN {n} > 1 THEN sqrt(greatest(({squares} - {total} * {total} / {n}) / ({n} - 1), 0)) "
                         f"END AS {s}_std_{hours}h")
    stats += [f"CAST(coalesce(sum(e_{e}) {window(long_blocks)}, 0) AS INTEGER) AS {e}_count_{features.long_window_hours}h"
              for e in ERROR_IDS]
    since = "OVER (PARTITION BY machine_id ORDER BY k ROWS UNBOUNDED PRECEDING)"
    stats += [f"max(r_{c}) {since} AS r_{c}" for c in COMPONENTS]
    ages = ", ".join(f"(epoch_us(to_timestamp(k * {block_s})) - epoch_us(coalesce(r_{c}, TIMESTAMP '{history_start}')))"
                     f" / 86400000000.0 AS {c}_days_since_replacement" for c in COMPONENTS)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE floor_features AS
        SELECT w.machine_id, CAST(to_timestamp(w.k * {block_s}) AS TIMESTAMP) AS timestamp,
               CAST(to_timestamp(w.k * {block_s}) AS DATE) AS date, w.* EXCLUDE (machine_id, k, is_grid,
               {", ".join(replacement_names)}), {ages}, m.model, m.age
        FROM (SELECT machine_id, k, is_grid, {", ".join(stats)} FROM floor_blocks) w
        JOIN floor_machines m ON m.machineID = w.machine_id
        WHERE w.is_grid = 1""")

    step_s, horizon_s = labels.cadence_hours * 3600, labels.horizon_hours * 3600
    failures = _csv(landing, "failures", {"datetime": "TIMESTAMP", "machineID": "INTEGER", "failure": "VARCHAR"})
    con.execute(f"""CREATE OR REPLACE TEMP TABLE floor_labels AS
        WITH hits AS (
            SELECT machineID AS machine_id, datetime, failure,
                   unnest(generate_series(CAST(ceil((epoch(datetime) - {horizon_s}) / {step_s}) AS BIGINT),
                                          CAST(ceil(epoch(datetime) / {step_s}) AS BIGINT) - 1)) AS k
            FROM {failures}
            WHERE datetime > TIMESTAMP '{start}' AND datetime <= TIMESTAMP '{end}' + INTERVAL {labels.horizon_hours} HOUR),
        earliest AS (SELECT machine_id, k, arg_min(failure, (datetime, failure)) AS label FROM hits GROUP BY ALL)
        SELECT g.machine_id, g.timestamp, CAST(g.timestamp AS DATE) AS date, coalesce(e.label, 'none') AS label
        FROM floor_grid g LEFT JOIN earliest e
          ON e.machine_id = g.machine_id AND e.k = CAST(epoch(g.timestamp) / {step_s} AS BIGINT)""")
    seconds = time.perf_counter() - began
    rows = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("floor_features", "floor_labels")]
    return Floor(seconds, *rows)


def _stored(con, location: str, name: str) -> None:
    """A view of a Delta table's live files (delta-rs lists them; DuckDB reads the Parquet)."""
    snapshot = delta_log.plain_snapshot(location)
    files = ", ".join(f"'{f.removeprefix('file://')}'" for f in snapshot.files)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{files}], hive_partitioning=true)")


def _differs(column: str, text: bool) -> str:
    """SQL: the floor's value `f.<column>` and the stored `s.<column>` differ (nulls included)."""
    if text:
        return f"f.{column} IS DISTINCT FROM s.{column}"
    return (f"((f.{column} IS NULL) <> (s.{column} IS NULL) "
            f"OR abs(f.{column} - s.{column}) > {TOLERANCE} * greatest(1, abs(s.{column})))")


def compare(con, warehouse: Path, features: FeatureParams = FeatureParams(), examples: int = 5) -> list[str]:
    """Every grid point of both tables compared value by value: what differs ([] when nothing does).

    Doubles may differ by `TOLERANCE` (relative): Spark and DuckDB add them up in different orders.
    """
    store = DeltaTableStore.local(warehouse)
    _stored(con, store.where(MACHINE_FEATURES), "stored_features")
    _stored(con, store.where(FAILURE_LABELS), "stored_labels")
    problems = []
    for floor, stored, columns in (("floor_features", "stored_features", feature_columns(features)),
                                   ("floor_labels", "stored_labels", ["label"])):
        differs = {c: _differs(c, c in TEXT_COLUMNS) for c in columns}
        rows = con.execute(f"""
            SELECT coalesce(f.machine_id, s.machine_id), coalesce(f.timestamp, s.timestamp),
                   f.machine_id IS NULL, s.machine_id IS NULL,
                   {", ".join(f"CASE WHEN {d} THEN '{c}: ' || coalesce(CAST(f.{c} AS VARCHAR), 'null') || ' here, ' || "
                              f"coalesce(CAST(s.{c} AS VARCHAR), 'null') || ' stored' END" for c, d in differs.items())}
            FROM {floor} f FULL JOIN {stored} s ON f.machine_id = s.machine_id AND f.timestamp = s.timestamp
            WHERE f.machine_id IS NULL OR s.machine_id IS NULL OR {" OR ".join(differs.values())}
            ORDER BY 1, 2""").fetchall()
        for machine, at, only_stored, only_floor, *values in rows[:examples]:
            what = ("only in the project's table" if only_stored else "missing from the project's table"
                    if only_floor else "; ".join(v for v in values if v))
            problems.append(f"{floor} machine {machine} at {at}: {what}")
        if len(rows) > examples:
            problems.append(f"{floor}: {len(rows) - examples} more grid points differ")
    return problems


def measure(landing: Path, warehouse: Path, first_day: date, last_day: date) -> tuple[Floor, list[str]]:
    """The floor's time and rows, and what differs from the project's tables."""
    con = _connect()
    floor = compute(con, landing, first_day, last_day)
    return floor, compare(con, warehouse)
