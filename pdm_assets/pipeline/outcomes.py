"""Prediction outcomes: what each day's predictions were worth once its labels are final.

Per day and model version, from the day's predictions joined with its labels: row-level precision
and recall per class and macro F1 (`pipeline.model`), and in a planner's terms the failures warned,
their lead, the alarm episodes and the false ones (`pipeline.events`). A day whose labels are not
all final yet is not judged: a `none` label may still turn into a failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import AbstractSet, Mapping, Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.pipeline.evaluation import midnight
from pdm_assets.pipeline.events import Event, EventEvaluation, evaluate_events
from pdm_assets.pipeline.labels import FINAL, NO_FAILURE
from pdm_assets.pipeline.model import Evaluation, evaluation_from_counts
from pdm_assets.pipeline.schemas import COMPONENTS, PARTITION_COLUMN

OUTCOME_SCHEMA = (
    f"{PARTITION_COLUMN} date, model_version string, rows long, macro_f1 double, accuracy double, "
    + ", ".join(f"precision_{c} double, recall_{c} double" for c in COMPONENTS)
    + ", failures int, warned int, event_recall double, lead_median_h double, episodes int, "
    "false_episodes int, alarm_precision double"
)


@dataclass(frozen=True)
class DayOutcome:
    """One day's predictions of one model version, judged against what happened."""

    day: date
    model_version: str
    rows: Evaluation
    events: EventEvaluation

    def record(self) -> tuple:
        """A row of OUTCOME_SCHEMA."""
        r, e = self.rows, self.events
        per_class = [v for c in COMPONENTS for v in (r.precision.get(c), r.recall.get(c))]
        return (self.day, self.model_version, r.rows, r.macro_f1, r.accuracy, *per_class, e.failures, e.warned,
                e.event_recall, e.lead_median_h, e.episodes, e.episodes - e.true_episodes, e.alarm_precision)

    def figures(self) -> dict[str, float]:
        """The numeric figures a day's metadata carries (left out where undefined)."""
        named = {"macro_f1": self.rows.macro_f1, "event_recall": self.events.event_recall,
                 "alarm_precision": self.events.alarm_precision, "failures": self.events.failures,
                 "failures_warned": self.events.warned, "false_alarm_episodes": self.events.episodes
                 - self.events.true_episodes, "lead_median_h": self.events.lead_median_h}
        return {k: float(v) for k, v in named.items() if v is not None}


def final_days(labels: DataFrame) -> set[date]:
    """Days all of whose label rows are final."""
    rows = labels.groupBy(PARTITION_COLUMN).agg(F.bool_and(FINAL).alias("all_final")).collect()
    return {r[PARTITION_COLUMN] for r in rows if r["all_final"]}


def judged_cells(predictions: DataFrame, labels: DataFrame, days: Sequence[date]) -> DataFrame:
    """(date, model_version, label, predicted_failure, count) over the given days' joined rows."""
    wanted = F.col(PARTITION_COLUMN).isin([d.isoformat() for d in days])
    joined = predictions.where(wanted).select("machine_id", "timestamp", PARTITION_COLUMN, "model_version",
                                              "predicted_failure") \
        .join(labels.where(wanted).select("machine_id", "timestamp", "label"), ["machine_id", "timestamp"])
    return joined.groupBy(PARTITION_COLUMN, "model_version", "label", "predicted_failure").count()


def day_outcomes(predictions: DataFrame, labels: DataFrame, failures: Sequence[Event], days: Sequence[date],
                 horizon_hours: int, gap_hours: float) -> list[DayOutcome]:
    """Outcomes of those of `days` whose labels are final, per model version (none for the others).

    `predictions` reach one horizon before the first day (alarms of the evening before warn a
    failure of the early morning, and set its lead); `failures` one horizon past the last day (an
    alarm of a day's last point may be right about a failure just after midnight).
    """
    judged = sorted(final_days(labels.where(F.col(PARTITION_COLUMN).isin([d.isoformat() for d in days]))))
    if not judged:
        return []
    cells: dict[tuple[date, str], dict[tuple[str, str], int]] = {}
    for r in judged_cells(predictions, labels, judged).collect():
        cells.setdefault((r[PARTITION_COLUMN], r["model_version"]), {})[(r["label"], r["predicted_failure"])] = r["count"]
    machines = {(r[PARTITION_COLUMN], r["model_version"]): r["machines"] for r in
                predictions.where(F.col(PARTITION_COLUMN).isin([d.isoformat() for d in judged]))
                .groupBy(PARTITION_COLUMN, "model_version").agg(F.countDistinct("machine_id").alias("machines"))
                .collect()}
    alarms: dict[str, list[Event]] = {}  # by model version: a version's alarms judge that version
    for r in predictions.where(F.col("predicted_failure") != NO_FAILURE) \
            .select("model_version", "machine_id", "predicted_failure", "timestamp").collect():
        alarms.setdefault(r["model_version"], []).append(Event(int(r["machine_id"]), r["predicted_failure"],
                                                                r["timestamp"]))
    outcomes = []
    for (day, version), counts in sorted(cells.items()):
        start, end = midnight(day), midnight(day + timedelta(days=1))
        mine = alarms.get(version, [])
        events = evaluate_events(mine, failures, horizon_hours, machines.get((day, version), 0), start, end,
                                 gap_hours, earlier_alarms=mine)
        outcomes.append(DayOutcome(day, version, evaluation_from_counts(counts), events))
    return outcomes


def weekly(outcomes: Sequence[DayOutcome]) -> list[tuple[date, Optional[float], Optional[float]]]:
    """(Monday, event recall, alarm precision) per week, pooled over the week's failures and episodes."""
    return weekly_from_records([{PARTITION_COLUMN: o.day, "failures": o.events.failures, "warned": o.events.warned,
                                 "episodes": o.events.episodes, "false_episodes": o.events.episodes
                                 - o.events.true_episodes} for o in outcomes])


def weekly_from_records(records: Sequence[Mapping]) -> list[tuple[date, Optional[float], Optional[float]]]:
    """The same from prediction_outcomes rows (date, failures, warned, episodes, false_episodes)."""
    weeks: dict[date, list[int]] = {}
    for r in records:
        day = r[PARTITION_COLUMN]
        pooled = weeks.setdefault(day - timedelta(days=day.weekday()), [0, 0, 0, 0])
        pooled[0] += r["failures"]
        pooled[1] += r["warned"]
        pooled[2] += r["episodes"]
        pooled[3] += r["episodes"] - r["false_episodes"]
    return [(monday, w[1] / w[0] if w[0] else None, w[3] / w[2] if w[2] else None) for monday, w in sorted(weeks.items())]


def weekly_figure(weeks: Sequence[tuple[date, Optional[float], Optional[float]]], title: str):
    """Realized event recall and alarm precision per week (matplotlib, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    for index, label in ((1, "event recall (failures warned / failures)"),
                         (2, "alarm precision (true episodes / episodes)")):
        shown = [(w[0], w[index]) for w in weeks if w[index] is not None]
        ax.plot([d for d, _ in shown], [v for _, v in shown], marker=".", label=label)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("week of")
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def pooled_week(outcomes: Sequence[DayOutcome], last: date) -> dict:
    """Failures warned and alarm episodes over the 7 judged days up to `last`, pooled."""
    week = [o for o in outcomes if last - timedelta(days=7) < o.day <= last]
    failures, warned = sum(o.events.failures for o in week), sum(o.events.warned for o in week)
    episodes, true = sum(o.events.episodes for o in week), sum(o.events.true_episodes for o in week)
    return {"from": min(o.day for o in week).isoformat(), "to": last.isoformat(), "failures": failures,
            "warned": warned, "event_recall": warned / failures if failures else None, "episodes": episodes,
            "false_episodes": episodes - true, "alarm_precision": true / episodes if episodes else None}


def day_figures(outcomes: Sequence[DayOutcome]) -> dict[str, float | str]:
    """A day's figures by name; the version that scored most rows plain, any other prefixed `v<version>_`."""
    figures: dict[str, float | str] = {}
    for index, outcome in enumerate(sorted(outcomes, key=lambda o: -o.rows.rows)):
        prefix = "" if index == 0 else f"v{outcome.model_version}_"
        figures.update({f"{prefix}{k}": v for k, v in outcome.figures().items()})
        figures[f"{prefix}model_version"] = outcome.model_version
    return figures


def ratio_text(value: Optional[float]) -> str:
    """A ratio as two decimals, or n/a where it is undefined (no failures, no alarms)."""
    return f"{value:.2f}" if value is not None else "n/a"


def weekly_markdown(outcomes: Sequence[DayOutcome]) -> str:
    """Realized event recall and alarm precision per week, as a markdown table."""
    rows = weekly(outcomes)
    if not rows:
        return "No day of the run has final labels yet."
    return "\n".join(["| week of | event recall | alarm precision |", "|---|---|---|",
                      *(f"| {monday} | {ratio_text(recall)} | {ratio_text(precision)} |"
                        for monday, recall, precision in rows)])


def versions_markdown(outcomes: Sequence[DayOutcome]) -> str:
    """Per model version, pooled over its judged days: the realized figures side by side (champion vs challenger)."""
    by_version: dict[str, list[DayOutcome]] = {}
    for o in outcomes:
        by_version.setdefault(o.model_version, []).append(o)
    lines = ["| version | days | failures | warned | event recall | alarm episodes | false | alarm precision "
             "| mean macro F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for version, mine in sorted(by_version.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0):
        failures, warned = sum(o.events.failures for o in mine), sum(o.events.warned for o in mine)
        episodes = sum(o.events.episodes for o in mine)
        false = episodes - sum(o.events.true_episodes for o in mine)
        lines.append(f"| {version} | {len(mine)} | {failures} | {warned} | {ratio_text(warned / failures if failures else None)} "
                     f"| {episodes} | {false} | {ratio_text((episodes - false) / episodes if episodes else None)} "
                     f"| {ratio_text(sum(o.rows.macro_f1 for o in mine) / len(mine))} |")
    return "\n".join(lines) if outcomes else "No day of the run has final labels yet."


def judged_version(records: Sequence[Mapping], shadow: AbstractSet[str] = frozenset()) -> str:
    """The version that scored most rows of the newest judged day (the champion of the day), not a shadow one."""
    newest = max(r[PARTITION_COLUMN] for r in records)
    of_day = [r for r in records if r[PARTITION_COLUMN] == newest]
    return max([r for r in of_day if r["model_version"] not in shadow] or of_day, key=lambda r: r["rows"])["model_version"]
