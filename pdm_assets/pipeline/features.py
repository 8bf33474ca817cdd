"""Machine features on the scoring grid: rolling telemetry stats, error counts, component ages.

How it is computed (one aggregation, one window pass, no Python UDF, no per-hour window):
every input row (telemetry reading, error, replacement, grid point) is put in the `b`-hour block
(t - b, t] that holds it, where b = gcd(cadence, short window, long window); one group-by yields
per block the count, sum and sum of squares of each signal, the count of each error type, the
latest replacement of each component and whether the block closes a grid point. A window over
the block index (`rangeBetween`, so missing blocks are simply absent, not miscounted) then sums
the last S/b and L/b blocks and carries the latest replacement forward. Mean and sample std come
from (count, sum, sumsq); doubles keep that exact to ~1e-10 at these magnitudes (see the tests).

Edge rules: a window (t - W, t] excludes a reading at t - W and includes one at t. A mean with no
reading is null, a std with fewer than two is null (like pandas' rolling std). A component never
replaced at or before t counts its days from `history_start`, the first day of the maintenance
history the caller loaded: the component is at least that old, and the feature is never null.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pdm_assets.pipeline.grid import HOUR, Grid, TimeBound, check_cadence, check_positive_hours, ts_literal, to_naive_utc
from pdm_assets.pipeline.schemas import COMPONENTS, ERROR_IDS, PARTITION_COLUMN, SIGNALS

CATEGORICAL_FEATURES = ("model",)
MACHINE_COLUMNS = ("model", "age")
KEY_COLUMNS = ("machine_id", "timestamp", PARTITION_COLUMN)
# What each signal's mean and std are computed from, per block and window (columns `<stat>_<signal>`).
_BLOCK_STATS = ("count", "sum", "sumsq")


@dataclass(frozen=True)
class FeatureParams:
    """Grid cadence and window lengths, all in whole hours."""

    cadence_hours: int = 3
    short_window_hours: int = 3
    long_window_hours: int = 24

    def __post_init__(self) -> None:
        check_cadence(self.cadence_hours)
        check_positive_hours(self.short_window_hours, "short_window_hours")
        check_positive_hours(self.long_window_hours, "long_window_hours")
        # Strictly longer: equal windows would produce the same column names twice.
        if self.long_window_hours <= self.short_window_hours:
            raise ValueError(
                f"long_window_hours ({self.long_window_hours}) must exceed "
                f"short_window_hours ({self.short_window_hours})"
            )

    @property
    def block_hours(self) -> int:
        """Block size that tiles the grid and both windows exactly."""
        return math.gcd(self.cadence_hours, self.short_window_hours, self.long_window_hours)


def feature_columns(params: FeatureParams = FeatureParams()) -> list[str]:
    """Model input columns in a stable order (`model` is categorical, the rest numeric)."""
    short, long = params.short_window_hours, params.long_window_hours
    cols = [f"{sig}_{stat}_{w}h" for w in (short, long) for stat in ("mean", "std") for sig in SIGNALS]
    cols += [f"{e}_count_{long}h" for e in ERROR_IDS]
    cols += [f"{c}_days_since_replacement" for c in COMPONENTS]
    return cols + list(MACHINE_COLUMNS)


def _events(df: DataFrame, cat: str | None, signals: bool = False) -> DataFrame:
    """Every row in the common union layout (rows outside the windows fall in blocks no grid point sees)."""
    return df.select(
        "machine_id",
        F.col("datetime").alias("ts"),
        *[(F.col(s) if signals else F.lit(None)).cast("double").alias(s) for s in SIGNALS],
        (F.col(cat) if cat else F.lit(None)).cast("string").alias("cat"),
        F.lit(0).alias("is_grid"),
    )


def _mean_std(count: Column, total: Column, sumsq: Column) -> tuple[Column, Column]:
    mean = F.when(count > 0, total / count)
    var = (sumsq - total * total / count) / (count - 1)
    return mean, F.when(count > 1, F.sqrt(F.greatest(var, F.lit(0.0))))


def build_features(
    telemetry: DataFrame,
    errors: DataFrame,
    maint: DataFrame,
    machines: DataFrame,
    start: TimeBound,
    end: TimeBound,
    params: FeatureParams = FeatureParams(),
    *,
    history_start: TimeBound,
) -> DataFrame:
    """One row per machine and grid point t in [start, end): KEY_COLUMNS + feature_columns(params).

    Needs telemetry and errors from `start - long window` (the day before, by default), the full
    maintenance history up to `end`, and nothing at or after `end`. Rows outside those bounds
    change nothing: a window only looks back, and only grid points' blocks are kept.

    The plan holds no literal that changes with the days: blocks are counted from the Unix epoch
    (a midnight, so b-hour blocks with b dividing 24 line up with each day) and the grid points
    are data. Spark compiles generated code per distinct source text, so a new day's plan then
    reuses the classes compiled for the day before instead of compiling its own.
    """
    grid = Grid(start, end, params.cadence_hours)
    block_hours, short_hours, long_hours = params.block_hours, params.short_window_hours, params.long_window_hours
    block_seconds = block_hours * HOUR

    # Grid rows make sure every grid point has a block, even without any reading.
    instants = machines.sparkSession.createDataFrame([(p,) for p in grid.epoch_seconds()], "seconds long")
    # The same broadcast frame as the attribute join below: Spark then ships the machines once.
    attributes = F.broadcast(machines.select("machine_id", *MACHINE_COLUMNS))
    points = instants.crossJoin(attributes).select(
        "machine_id", F.timestamp_seconds("seconds").alias("ts"),
        *[F.lit(None).cast("double").alias(s) for s in SIGNALS],
        F.lit(None).cast("string").alias("cat"), F.lit(1).alias("is_grid"),
    )
    rows = (
        _events(telemetry, None, signals=True)
        .unionByName(_events(errors, "error_id"))
        .unionByName(_events(maint, "comp"))
        .unionByName(points)
    )
    aggs = []
    for sig in SIGNALS:
        aggs += [F.count(sig).alias(f"count_{sig}"), F.sum(sig).alias(f"sum_{sig}"),
                 F.sum(F.col(sig) * F.col(sig)).alias(f"sumsq_{sig}")]
    aggs += [F.count(F.when(F.col("cat") == e, 1)).alias(f"e_{e}") for e in ERROR_IDS]
    aggs += [F.max(F.when(F.col("cat") == c, F.col("ts"))).alias(f"r_{c}") for c in COMPONENTS]
    # Only fixed-width aggregates here (no string max): that keeps Spark on a hash aggregate.
    # Block k is (k - 1, k] in b-hour steps from the epoch: a reading at t belongs to the block closing at t.
    block = F.ceil(F.unix_seconds("ts") / F.lit(block_seconds)).cast("long")
    blocks = rows.groupBy("machine_id", block.alias("k")).agg(
        *aggs, F.max("is_grid").alias("is_grid")
    )

    by_block = Window.partitionBy("machine_id").orderBy("k")
    long_w = by_block.rangeBetween(-(long_hours // block_hours - 1), 0)
    short_w = by_block.rangeBetween(-(short_hours // block_hours - 1), 0)
    ever_w = by_block.rangeBetween(Window.unboundedPreceding, 0)

    def over(name: str, w, hours: int) -> Column:
        # A one-block window is the block itself: skip the window function.
        return F.col(name) if hours == block_hours else F.sum(name).over(w)

    windowed = [F.max(f"r_{c}").over(ever_w).alias(f"r_{c}") for c in COMPONENTS]
    windowed += [over(f"e_{e}", long_w, long_hours).alias(f"e_{e}") for e in ERROR_IDS]
    for sig in SIGNALS:
        for stat in _BLOCK_STATS:
            windowed += [over(f"{stat}_{sig}", short_w, short_hours).alias(f"{stat}_{sig}_short"),
                         over(f"{stat}_{sig}", long_w, long_hours).alias(f"{stat}_{sig}_long")]
    # The filter must stay after the window: the lookback blocks feed the windows.
    at_points = blocks.select("machine_id", "k", "is_grid", *windowed).where(F.col("is_grid") == 1)

    t = F.timestamp_seconds(F.col("k") * F.lit(block_seconds))
    out = [F.col("machine_id"), t.alias("timestamp"), F.to_date(t).alias(PARTITION_COLUMN)]
    stats = {}
    for suffix, hours in (("short", short_hours), ("long", long_hours)):
        for sig in SIGNALS:
            mean, std = _mean_std(*(F.col(f"{stat}_{sig}_{suffix}") for stat in _BLOCK_STATS))
            stats[f"{sig}_mean_{hours}h"], stats[f"{sig}_std_{hours}h"] = mean, std
    for e in ERROR_IDS:
        stats[f"{e}_count_{long_hours}h"] = F.col(f"e_{e}").cast("int")
    hist = F.unix_micros(ts_literal(to_naive_utc(history_start)))
    for c in COMPONENTS:
        since = F.coalesce(F.unix_micros(F.col(f"r_{c}")), hist)
        stats[f"{c}_days_since_replacement"] = (F.unix_micros(t) - since) / F.lit(86_400_000_000.0)

    features = at_points.select(*out, *[v.alias(name) for name, v in stats.items()])
    return features.join(attributes, "machine_id").select(*KEY_COLUMNS, *feature_columns(params))


def maintenance_with_history(
    maint: DataFrame, history: DataFrame, first_partition: datetime
) -> tuple[DataFrame, datetime]:
    """All replacements (partitioned days plus pre-timeline history) and where that history starts.

    `history_start` is midnight of the earliest history record, or the first partition when the
    history is empty or no earlier: a component never replaced is at least that old.
    """
    columns = ("datetime", "machine_id", "comp")
    merged = maint.select(*columns).unionByName(history.select(*columns))
    first_record = history.agg(F.min("datetime")).first()[0]
    if first_record is not None and first_record < first_partition:
        return merged, datetime.combine(first_record.date(), time())
    return merged, first_partition
