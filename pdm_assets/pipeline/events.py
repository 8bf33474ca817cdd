"""Event-level quality, in a maintenance planner's terms: failures warned, hours of warning, crews sent for nothing.

Row-level scores count grid points; a planner counts failures and visits. Here:
- an *alarm* is a grid point (machine, time) whose predicted component is not `none`;
- an *episode* is a run of alarms of one machine and component less than `gap_hours` apart (one
  visit, however many grid points it spans; 12 h, or two grid steps on a grid coarser than 6 h);
- a failure is *warned* when an alarm of its machine and component stood in the `horizon_hours`
  before it; its *lead* is the time from the first such alarm to the failure;
- an episode is *true* when a failure of its machine and component follows one of its alarms within
  the horizon, else a *false alarm*.

Plain Python over the few alarms and failures of a period (collected from Spark by the callers).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Optional, Sequence

from pdm_assets.pipeline.schemas import COMPONENTS

DEFAULT_GAP_HOURS = 12


DAYS_PER_MONTH = 365.25 / 12


def episode_gap_hours(cadence_hours: int) -> float:
    """Alarms this close are one visit: 12 h, or on a coarse grid two grid steps (consecutive points are one episode)."""
    return max(DEFAULT_GAP_HOURS, 2 * cadence_hours)


@dataclass(frozen=True)
class Event:
    """A failure or an alarm: which machine, which component, when."""

    machine_id: int
    component: str
    at: datetime


@dataclass(frozen=True)
class Episode:
    """Consecutive alarms of one machine and component, less than the gap apart."""

    machine_id: int
    component: str
    start: datetime
    end: datetime
    alarms: int


def episodes(alarms: Iterable[Event], gap_hours: float = DEFAULT_GAP_HOURS) -> list[Episode]:
    """Alarms grouped into episodes (sorted by machine, component, start)."""
    gap = timedelta(hours=gap_hours)
    found: list[Episode] = []
    for alarm in sorted(alarms, key=lambda a: (a.machine_id, a.component, a.at)):
        last = found[-1] if found else None
        if last and (last.machine_id, last.component) == (alarm.machine_id, alarm.component) \
                and alarm.at - last.end < gap:
            found[-1] = Episode(last.machine_id, last.component, last.start, alarm.at, last.alarms + 1)
        else:
            found.append(Episode(alarm.machine_id, alarm.component, alarm.at, alarm.at, 1))
    return found


@dataclass(frozen=True)
class ComponentFigures:
    """One component's failures, how many were warned, and the warning they had."""

    failures: int
    warned: int
    recall: Optional[float]  # None when the period had no failure of the component
    lead_median_h: Optional[float]
    lead_p10_h: Optional[float]
    episodes: int
    false_episodes: int


@dataclass(frozen=True)
class EventEvaluation:
    """Failures warned and alarm episodes over a period, for all components and per component."""

    failures: int
    warned: int
    event_recall: Optional[float]
    lead_median_h: Optional[float]
    lead_p10_h: Optional[float]
    episodes: int
    true_episodes: int
    alarm_precision: Optional[float]  # None when nothing was alarmed
    false_episodes_per_machine_month: float
    machine_months: float
    per_component: dict[str, ComponentFigures] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat numeric figures for tracking (absent ones left out)."""
        flat = {k: float(v) for k, v in asdict(self).items()
                if k != "per_component" and isinstance(v, (int, float)) and v is not None}
        for component, figures in self.per_component.items():
            for name in ("recall", "lead_median_h"):
                value = getattr(figures, name)
                if value is not None:
                    flat[f"event_{name}_{component}"] = float(value)
        return flat

    def summary(self) -> str:
        """One line: recall, lead, precision, false alarms."""
        def shown(value: Optional[float], pattern: str) -> str:
            return pattern.format(value) if value is not None else "n/a"

        return (f"event recall {shown(self.event_recall, '{:.3f}')} ({self.warned}/{self.failures}), median lead "
                f"{shown(self.lead_median_h, '{:.0f}')} h, alarm precision {shown(self.alarm_precision, '{:.3f}')} "
                f"({self.true_episodes}/{self.episodes} episodes), "
                f"{self.false_episodes_per_machine_month:.3f} false alarms per machine-month")


def _percentile(values: Sequence[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def evaluate_events(alarms: Iterable[Event], failures: Iterable[Event], horizon_hours: float, machines: int,
                    period_start: datetime, period_end: datetime,
                    gap_hours: float = DEFAULT_GAP_HOURS, earlier_alarms: Iterable[Event] = ()) -> EventEvaluation:
    """Event-level figures of the alarms raised in [period_start, period_end) against its failures.

    Failures count (for recall) when period_start < at <= period_end: the grid points of the period are
    the only ones that could warn them. Whether an episode was true is judged against every failure
    given, so pass those up to one horizon past the end (an alarm at the period's last point may be
    right about a failure just after it). Machines x the period's length give the machine-months.
    `earlier_alarms`, alarms of the horizon before the period, may warn its first failures (and set
    their lead) but are not the period's episodes.
    """
    horizon = timedelta(hours=horizon_hours)
    given = list(failures)
    alarm_list = [a for a in alarms if period_start <= a.at < period_end]
    failure_list = [f for f in given if period_start < f.at <= period_end]
    by_key: dict[tuple[int, str], list[datetime]] = {}
    for alarm in [*alarm_list, *(a for a in earlier_alarms if period_start - horizon <= a.at < period_start)]:
        by_key.setdefault((alarm.machine_id, alarm.component), []).append(alarm.at)
    leads: dict[str, list[float]] = {c: [] for c in COMPONENTS}
    counts = {c: [0, 0] for c in COMPONENTS}  # failures, warned
    for failure in failure_list:
        counts.setdefault(failure.component, [0, 0])[0] += 1
        before = [t for t in by_key.get((failure.machine_id, failure.component), ())
                  if failure.at - horizon <= t < failure.at]
        if before:
            counts[failure.component][1] += 1
            leads.setdefault(failure.component, []).append((failure.at - min(before)).total_seconds() / 3600)
    failures_by_key: dict[tuple[int, str], list[datetime]] = {}
    for failure in given:
        failures_by_key.setdefault((failure.machine_id, failure.component), []).append(failure.at)
    grouped = episodes(alarm_list, gap_hours)
    # true: a failure follows one of the episode's alarms within the horizon, i.e. lies in (start, end + horizon]
    true_flags = [any(e.start < f <= e.end + horizon for f in failures_by_key.get((e.machine_id, e.component), ()))
                  for e in grouped]
    machine_months = machines * (period_end - period_start).total_seconds() / 86400 / DAYS_PER_MONTH
    per_component = {}
    for component, (failed, warned) in counts.items():
        mine = [flag for e, flag in zip(grouped, true_flags) if e.component == component]
        per_component[component] = ComponentFigures(
            failed, warned, warned / failed if failed else None, _percentile(leads.get(component, []), 0.5),
            _percentile(leads.get(component, []), 0.1), len(mine), sum(1 for flag in mine if not flag))
    all_leads = [lead for values in leads.values() for lead in values]
    total, warned_total = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    true_total = sum(true_flags)
    return EventEvaluation(
        failures=total, warned=warned_total, event_recall=warned_total / total if total else None,
        lead_median_h=_percentile(all_leads, 0.5), lead_p10_h=_percentile(all_leads, 0.1),
        episodes=len(grouped), true_episodes=true_total,
        alarm_precision=true_total / len(grouped) if grouped else None,
        false_episodes_per_machine_month=(len(grouped) - true_total) / machine_months if machine_months else 0.0,
        machine_months=machine_months, per_component=per_component,
    )
