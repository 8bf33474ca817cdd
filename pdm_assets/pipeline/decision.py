"""The decision rule: when the class probabilities raise an alarm, with a threshold per component.

The arg-max class alarms whenever a component outweighs `none`, however slightly. A rule instead
alarms for component c when its probability reaches c's threshold (the likeliest such component when
several do). The thresholds are chosen on training-window data the model was not fitted on (a tuning
period at the window's end), never on the holdout: per component the lowest threshold whose alarm
episodes reach a target precision, which keeps as many failures warned as that precision allows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Optional, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from pdm_assets.pipeline.events import DEFAULT_GAP_HOURS, Event, evaluate_events
from pdm_assets.pipeline.labels import NO_FAILURE
from pdm_assets.pipeline.schemas import COMPONENTS

ARGMAX = "argmax"
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95


@dataclass(frozen=True)
class DecisionRule:
    """Per-component probability thresholds; None means the arg-max class."""

    thresholds: Optional[Mapping[str, float]] = None
    target_precision: Optional[float] = None

    def describe(self) -> str:
        """`argmax`, or `comp1>=0.40,comp2>=0.35,...`: what each scored row records."""
        if not self.thresholds:
            return ARGMAX
        return ",".join(f"{c}>={self.thresholds[c]:.2f}" for c in COMPONENTS if c in self.thresholds)

    def to_json(self) -> str:
        return json.dumps({"thresholds": dict(self.thresholds) if self.thresholds else None,
                           "target_precision": self.target_precision})

    @classmethod
    def from_json(cls, text: str) -> "DecisionRule":
        data = json.loads(text)
        return cls(data.get("thresholds"), data.get("target_precision"))


def decide(rule: DecisionRule, probability: Mapping[str, Column], argmax: Column) -> Column:
    """The predicted class under `rule`: the likeliest component past its threshold, else none."""
    if not rule.thresholds:
        return argmax
    passing = F.array(*[F.when(probability[c] >= F.lit(float(t)), F.struct(probability[c].alias("p"), F.lit(c).alias("c")))
                        for c, t in rule.thresholds.items()])
    return F.coalesce(F.array_max(passing)["c"], F.lit(NO_FAILURE))  # array_max skips nulls; compares p first


@dataclass(frozen=True)
class Scored:
    """One grid point's component probabilities (collected from Spark)."""

    machine_id: int
    at: datetime
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class CurvePoint:
    """What a threshold gives a component on the tuning period."""

    threshold: float
    event_recall: Optional[float]
    alarm_precision: Optional[float]
    episodes: int


def choose_rule(points: Sequence[Scored], failures: Sequence[Event], horizon_hours: float, machines: int,
                start: datetime, end: datetime, target_precision: float,
                grid: Sequence[float] = THRESHOLD_GRID,
                gap_hours: float = DEFAULT_GAP_HOURS) -> tuple[DecisionRule, dict[str, list[CurvePoint]]]:
    """Per component, the lowest threshold whose episodes reach `target_precision` on [start, end).

    A component that reaches it at no threshold gets the one with the best precision (ties: better
    recall). Returns the rule and each component's curve (for the trade-off picture).
    """
    thresholds: dict[str, float] = {}
    curves: dict[str, list[CurvePoint]] = {}
    for component in COMPONENTS:
        mine = [f for f in failures if f.component == component]
        curve = []
        for threshold in grid:
            alarms = [Event(p.machine_id, component, p.at) for p in points
                      if p.probabilities.get(component, 0.0) >= threshold]
            figures = evaluate_events(alarms, mine, horizon_hours, machines, start, end, gap_hours)
            curve.append(CurvePoint(threshold, figures.event_recall, figures.alarm_precision, figures.episodes))
        curves[component] = curve
        reaching = [p for p in curve if p.alarm_precision is not None and p.alarm_precision >= target_precision]
        if reaching:
            thresholds[component] = min(p.threshold for p in reaching)
        else:
            scored = [p for p in curve if p.alarm_precision is not None] or curve
            best = max(scored, key=lambda p: (p.alarm_precision or 0.0, p.event_recall or 0.0, -p.threshold))
            thresholds[component] = best.threshold
    return DecisionRule(thresholds, target_precision), curves


def curve_figure(curves: Mapping[str, Sequence[CurvePoint]], rule: DecisionRule, title: str):
    """Event recall against alarm precision as each component's threshold moves (matplotlib, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 5), dpi=100)
    ax = fig.add_subplot()
    for component, curve in curves.items():
        shown = [p for p in curve if p.alarm_precision is not None and p.event_recall is not None]
        ax.plot([p.alarm_precision for p in shown], [p.event_recall for p in shown], marker=".", label=component)
        chosen = [p for p in shown if rule.thresholds and abs(p.threshold - rule.thresholds.get(component, -1)) < 1e-9]
        for p in chosen:
            ax.annotate(f"{p.threshold:.2f}", (p.alarm_precision, p.event_recall), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
    if rule.target_precision is not None:
        ax.axvline(rule.target_precision, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("alarm precision (true episodes / episodes)")
    ax.set_ylabel("event recall (failures warned / failures)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
