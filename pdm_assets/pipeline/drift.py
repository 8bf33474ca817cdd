"""Feature and prediction drift: population stability index (PSI) per day against the training window.

Method. The reference is taken from the training window. Each numeric feature gets quantile bin edges
(``approxQuantile`` at 1/bins, 2/bins, ..., relative error 0.001). Repeated quantiles, as in a count column
that is mostly 0, are collapsed, so a feature can have fewer than ``bins`` bins. Bin ``i`` is the interval
``(edges[i-1], edges[i]]``: a value ``<= edges[0]`` falls in bin 0, a value ``> edges[-1]`` in the last bin.
The reference keeps the share of non-null rows in each bin, and the class mix of the label column.

Each day of the monitored data (for example scored rows with a predicted class) is binned with the same edges.
The bin index is the sum of ``(value > edge)`` over the edges, built from column functions only. Then the
day's bin shares are compared with the reference shares by

    PSI = sum over bins of (actual - expected) * ln(actual / expected).

Both shares are floored at ``PSI_EPSILON`` first. The predicted class mix is compared with the reference class
mix in the same way. Common reading: below 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 large shift.

The Spark work is one ``approxQuantile`` pass and one aggregation for the reference, and one ``groupBy(day)``
aggregation for the daily report. PSI itself is computed on the driver from the collected counts.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# An empty bin (share 0) would make ln(a / e) infinite, or the term 0 * ln(0).
# Flooring both shares at 1e-4, a tenth of a per-mille, keeps every term finite. An empty bin still counts
# heavily, without swamping the sum: a bin that held 10% of rows and is now empty adds about 0.69.
PSI_EPSILON = 1e-4
DEFAULT_BINS = 10
QUANTILE_RELATIVE_ERROR = 0.001
CLASS_MIX_KEY = "predicted_class_mix"


@dataclass(frozen=True)
class DriftReference:
    """Bin edges and proportions of each numeric feature, and the class mix, in the training window."""

    edges: dict[str, list[float]]  # feature -> sorted, strictly increasing inner cut points (len <= bins-1)
    proportions: dict[str, list[float]]  # feature -> share of non-null rows per bin (len(edges)+1, sums to 1)
    class_mix: dict[str, float]  # class -> share of all rows, e.g. {"none": .97, "comp1": .01, ...}
    rows: int  # rows in the reference frame

    def __post_init__(self) -> None:
        if set(self.edges) != set(self.proportions):
            raise ValueError("DriftReference: edges and proportions must name the same features")
        for name, cuts in self.edges.items():
            if any(b <= a for a, b in zip(cuts, cuts[1:])):
                raise ValueError(f"DriftReference: edges of {name} are not strictly increasing: {cuts}")
            if len(self.proportions[name]) != len(cuts) + 1:
                raise ValueError(f"DriftReference: {name} has {len(cuts)} edges but "
                                 f"{len(self.proportions[name])} proportions (want edges + 1)")

    def to_json(self) -> str:
        """The reference as a JSON object (edges, proportions, class_mix, rows)."""
        return json.dumps(
            {"edges": self.edges, "proportions": self.proportions, "class_mix": self.class_mix, "rows": self.rows},
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "DriftReference":
        """Rebuild a reference from the output of `to_json`."""
        data = json.loads(text)
        return cls(
            edges={k: [float(x) for x in v] for k, v in data["edges"].items()},
            proportions={k: [float(x) for x in v] for k, v in data["proportions"].items()},
            class_mix={k: float(v) for k, v in data["class_mix"].items()},
            rows=int(data["rows"]),
        )


def _bin_index(column: str, edges: Sequence[float]) -> Column:
    """Bin number of each value: how many edges it exceeds (null stays null)."""
    value = F.col(column)
    if not edges:
        return F.when(value.isNotNull(), F.lit(0))
    terms = [(value > F.lit(float(edge))).cast("int") for edge in edges]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _unique_edges(quantiles: Sequence[float]) -> list[float]:
    """Sorted distinct finite quantiles: repeated cut points collapse into one edge."""
    return sorted({float(q) for q in quantiles if q is not None and math.isfinite(q)})


def _binned_counts(
    df: DataFrame, columns: Sequence[str], edges: dict[str, list[float]], class_column: str,
    classes: Sequence[str], day: Column | None = None,
) -> DataFrame:
    """One row of counts (per `_day` when `day` is given): `_rows`, and for the i-th column `_n{i}`
    (non-null values) and `_b{i}_{k}` (values in bin k); `_c{j}` counts the rows of the j-th class."""
    binned = df.select(
        *([day.alias("_day")] if day is not None else []),
        *[_bin_index(c, edges[c]).alias(f"_b{i}") for i, c in enumerate(columns)],
        F.col(class_column).cast("string").alias("_class"),
    )
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, c in enumerate(columns):
        aggs.append(F.count(f"_b{i}").alias(f"_n{i}"))
        aggs += [F.count_if(F.col(f"_b{i}") == k).alias(f"_b{i}_{k}") for k in range(len(edges[c]) + 1)]
    aggs += [F.count_if(F.col("_class") == F.lit(cls)).alias(f"_c{j}") for j, cls in enumerate(classes)]
    return binned.groupBy("_day").agg(*aggs) if day is not None else binned.agg(*aggs)


def drift_reference(
    df: DataFrame, numeric_columns: Sequence[str], class_column: str, classes: Sequence[str], bins: int = DEFAULT_BINS
) -> DriftReference:
    """Quantile bin edges (approxQuantile, relative error 0.001) per numeric column, the proportions, the class mix."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    columns = list(numeric_columns)
    probabilities = [i / bins for i in range(1, bins)]
    if columns and probabilities:
        # approxQuantile ignores nulls; a column with no non-null value gives an empty list.
        quantiles = df.approxQuantile(columns, probabilities, QUANTILE_RELATIVE_ERROR)
    else:
        quantiles = [[] for _ in columns]
    edges = {c: _unique_edges(q) for c, q in zip(columns, quantiles)}

    counts = _binned_counts(df, columns, edges, class_column, classes).first().asDict()

    rows = int(counts["_rows"])
    if rows == 0:
        raise ValueError("drift_reference: the reference frame has no rows")
    kept_edges: dict[str, list[float]] = {}
    proportions: dict[str, list[float]] = {}
    for i, c in enumerate(columns):
        non_null = int(counts[f"_n{i}"])
        if non_null == 0:  # no values at all: nothing to compare against later, so no reference for it
            continue
        kept_edges[c] = edges[c]
        proportions[c] = [int(counts[f"_b{i}_{k}"]) / non_null for k in range(len(edges[c]) + 1)]
    class_mix = {cls: int(counts[f"_c{j}"]) / rows for j, cls in enumerate(classes)}
    return DriftReference(edges=kept_edges, proportions=proportions, class_mix=class_mix, rows=rows)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index: sum((a - e) * ln(a / e)), with both sides floored at PSI_EPSILON."""
    if len(expected) != len(actual):
        raise ValueError(f"psi: {len(expected)} expected shares but {len(actual)} actual shares")
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(float(e), PSI_EPSILON), max(float(a), PSI_EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def drift_by_day(
    df: DataFrame, reference: DriftReference, class_column: str, day_column: str = "date"
) -> dict[str, dict[str, float]]:
    """{day (YYYY-MM-DD): {feature: psi, ..., "predicted_class_mix": psi}} for every day in df, from ONE Spark job."""
    features = list(reference.edges)
    classes = list(reference.class_mix)
    collected = _binned_counts(df, features, reference.edges, class_column, classes,
                               day=F.date_format(F.to_date(F.col(day_column)), "yyyy-MM-dd")).collect()

    report: dict[str, dict[str, float]] = {}
    # Rows without a day cannot be reported under any day; they are left out.
    for row in sorted((r.asDict() for r in collected if r["_day"] is not None), key=lambda r: r["_day"]):
        day: dict[str, float] = {}
        for i, c in enumerate(features):
            non_null = int(row[f"_n{i}"])
            if non_null == 0:  # all null that day: report nothing rather than a made-up number
                continue
            shares = [int(row[f"_b{i}_{k}"]) / non_null for k in range(len(reference.edges[c]) + 1)]
            day[c] = psi(reference.proportions[c], shares)
        rows = int(row["_rows"])
        if classes:
            day[CLASS_MIX_KEY] = psi([reference.class_mix[cls] for cls in classes],
                                     [int(row[f"_c{j}"]) / rows for j in range(len(classes))])
        report[row["_day"]] = day
    return report
