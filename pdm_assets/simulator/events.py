"""The fleet, and its schedule of failures, replacements and errors.

The schedule is a forward simulation, one vectorized step per day, whose randomness for day D
comes only from the stream (seed, EVENTS, D). A run to a later horizon therefore replays exactly
the same days first: that is what makes `append` equal to a longer one-shot run, and lets the
precursors of a failure on day D+1 be written with day D before day D+1 exists.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Optional

import numpy as np

from pdm_assets.simulator import params as p
from pdm_assets.simulator.columns import MACHINE_MODELS
from pdm_assets.simulator.params import Stream, stream


@dataclass(frozen=True)
class Fleet:
    """Static per-machine properties (machine i has machineID i + 1)."""

    model: np.ndarray  # index into MACHINE_MODELS
    age: np.ndarray  # years
    frailty: np.ndarray  # failure-hazard multiplier
    visit_phase: np.ndarray  # service visits fall on days with (ordinal + phase) % VISIT_DAYS == 0
    baseline: np.ndarray  # (n, 4) offsets of each signal's normal level, in signal stds

    @property
    def size(self) -> int:
        return len(self.model)


def make_fleet(seed: int, machines: int) -> Fleet:
    """Draw `machines` machines from the published model mix and age range."""
    rng = stream(seed, Stream.FLEET)
    # Model counts by largest remainder, so 100 machines give exactly the published 16/17/35/32.
    quota = np.asarray(p.MODEL_SHARES) * machines
    counts = np.floor(quota).astype(int)
    counts[np.argsort(counts - quota, kind="stable")[: machines - counts.sum()]] += 1
    model = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    age = rng.integers(0, p.MAX_MACHINE_AGE + 1, machines)
    z = rng.standard_normal(machines)
    frailty = np.exp(p.FRAILTY_SIGMA * z - p.FRAILTY_SIGMA**2 / 2)
    frailty *= 1 + p.FRAILTY_PER_YEAR * (age - p.MAX_MACHINE_AGE / 2)
    phase = rng.integers(0, p.VISIT_DAYS, machines)
    baseline = p.BASELINE_SIGMA * rng.standard_normal((machines, len(p.NORMAL_LEVEL)))
    return Fleet(model, age, frailty, phase, baseline)


@dataclass(frozen=True)
class Events:
    """Point events as parallel arrays. `hour` = date.toordinal() * 24 + hour of day."""

    hour: np.ndarray
    machine: np.ndarray  # 0-based machine index
    code: np.ndarray  # index into the dataset's vocabulary (COMPONENTS or ERROR_IDS)

    def __len__(self) -> int:
        return len(self.hour)

    def select(self, mask: np.ndarray) -> "Events":
        """The events where `mask` holds (or at the given indices), keeping every column."""
        return type(self)(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    def on_day(self, ordinal: int) -> "Events":
        """The events of one day, sorted like the published files: machine, time, code."""
        day = self.select(self.hour // 24 == ordinal)
        return day.select(np.lexsort((day.code, day.hour, day.machine)))

    @classmethod
    def concat(cls, parts: list["Events"]) -> "Events":
        names = [f.name for f in fields(cls)]
        return cls(**{n: np.concatenate([getattr(e, n) for e in parts]) for n in names})


@dataclass(frozen=True)
class Failures(Events):
    """Failures and the shape of what announces them."""

    window: np.ndarray  # hours of telemetry drift before the failure
    amp: np.ndarray  # drift at the failure, in signal stds
    precursor: np.ndarray  # whether paired errors precede it
    pattern: np.ndarray  # the component whose drift and errors announce it (its own, unless the regime changed)


@dataclass(frozen=True)
class RegimeChange:
    """From `day` on, failures of the machines of some models are announced as another component's would be.

    A firmware or sensor change in the field: the drift and the precursor errors before a failure of
    component c are those of component c + `shift` (mod 4). A model trained before the change warns the
    wrong component, or nothing, from that day: what the decay check on realized outcomes must catch.
    """

    day: date
    machine_models: tuple[str, ...]  # of "model1".."model4"
    shift: int = 1

    def __post_init__(self) -> None:
        unknown = [m for m in self.machine_models if m not in MACHINE_MODELS]
        if unknown or not self.machine_models:
            raise ValueError(f"regime change: machine models must be some of {', '.join(MACHINE_MODELS)}, "
                             f"got {', '.join(self.machine_models) or 'none'}")
        if self.shift % len(p.SCHEDULED_P) == 0:
            raise ValueError(f"regime change: a shift of {self.shift} components changes nothing")

    def apply(self, failures: Failures, fleet: Fleet) -> Failures:
        models = [MACHINE_MODELS.index(m) for m in self.machine_models]
        changed = (failures.hour >= self.day.toordinal() * 24) & np.isin(fleet.model[failures.machine], models)
        shifted = (failures.code + self.shift) % len(p.SCHEDULED_P)
        return replace(failures, pattern=np.where(changed, shifted, failures.pattern))

    def to_json(self) -> dict:
        return {"day": self.day.isoformat(), "machine_models": list(self.machine_models), "shift": self.shift}

    @classmethod
    def from_json(cls, value: Optional[dict]) -> Optional["RegimeChange"]:
        return None if value is None else cls(date.fromisoformat(value["day"]), tuple(value["machine_models"]),
                                              int(value["shift"]))


@dataclass(frozen=True)
class Schedule:
    """Failures and replacements from HISTORY_DAYS before `first_day` up to a horizon."""

    first_day: date
    failures: Failures
    maint: Events  # every replacement, scheduled or after a failure

    def history(self) -> Events:
        """The latest replacement of each (machine, component) before the first day."""
        before = self.maint.select(self.maint.hour < self.first_day.toordinal() * 24)
        # maint is in time order, so the first hit in the reversed arrays is the latest one
        key = (before.machine * len(p.SCHEDULED_P) + before.code)[::-1]
        _, last = np.unique(key, return_index=True)
        latest = before.select(len(before) - 1 - last)
        return latest.select(np.lexsort((latest.code, latest.hour, latest.machine)))


def simulate_schedule(seed: int, fleet: Fleet, first_day: date, horizon: date) -> Schedule:
    """Step day by day from HISTORY_DAYS before `first_day` (all components new) to `horizon`."""
    n, n_comp = fleet.size, len(p.SCHEDULED_P)
    start = first_day.toordinal() - p.HISTORY_DAYS
    age = np.zeros((n, n_comp))  # whole days since the component was replaced
    failures: list[Failures] = []
    maint: list[Events] = []
    for ordinal in range(start, horizon.toordinal() + 1):
        rng = stream(seed, Stream.EVENTS, ordinal)
        # Every day draws the same arrays whether used or not: the streams stay aligned.
        u_fail, u_sched, u_hour, u_prec = rng.random((4, n, n_comp))
        window = rng.integers(p.DRIFT_WINDOW_H[0], p.DRIFT_WINDOW_H[1] + 1, (n, n_comp))
        amp = rng.uniform(*p.DRIFT_AMP, (n, n_comp))
        if ordinal == start:
            failed = np.zeros((n, n_comp), dtype=bool)
            scheduled = np.ones((n, n_comp), dtype=bool)
        else:
            hazard = p.FAILURE_BASE * fleet.frailty[:, None] * (age / p.FAILURE_AGE_SCALE) ** (p.FAILURE_SHAPE - 1)
            failed = u_fail < -np.expm1(-hazard)
            visit = (ordinal + fleet.visit_phase) % p.VISIT_DAYS == 0
            scheduled = visit[:, None] & ~failed & (u_sched < p.SCHEDULED_P)
        fm, fc = np.nonzero(failed)
        f_hour = ordinal * 24 + np.where(u_hour[fm, fc] < p.FAILURE_EARLY_P, p.FAILURE_EARLY_HOUR, p.MAINT_HOUR)
        failures.append(
            Failures(f_hour, fm, fc, window[fm, fc], amp[fm, fc], u_prec[fm, fc] < p.PRECURSOR_P[fc], fc)
        )
        sm, sc = np.nonzero(scheduled)
        # a failed component is replaced at the time of the failure
        maint.append(Events(f_hour, fm, fc))
        maint.append(Events(np.full(len(sm), ordinal * 24 + p.MAINT_HOUR), sm, sc))
        replaced = failed | scheduled
        age[replaced] = 0
        age += 1
    return Schedule(first_day, Failures.concat(failures), Events.concat(maint))


def day_errors(seed: int, n_machines: int, failures: Failures, ordinal: int) -> Events:
    """The errors of one day: background errors plus the precursors of coming failures."""
    rng = stream(seed, Stream.ERRORS, ordinal)
    n_err = len(p.BACKGROUND_ERROR_P)
    occurs, u_hour = rng.random((2, n_machines, n_err))
    other = rng.integers(0, 23, (n_machines, n_err))
    # the other 23 hours, skipping the 06:00 that the first draw may choose
    hour = np.where(u_hour < p.BACKGROUND_6AM_P, p.MAINT_HOUR, other + (other >= p.MAINT_HOUR))
    bm, be = np.nonzero(occurs < p.BACKGROUND_ERROR_P)
    parts = [Events(ordinal * 24 + hour[bm, be], bm, be)]

    lead = failures.hour - p.PRECURSOR_LEAD_H
    coming = failures.select(failures.precursor & (lead // 24 == ordinal))
    for comp, errors in enumerate(p.PRECURSOR_ERRORS):
        of_comp = coming.select(coming.pattern == comp)
        for error in errors:
            parts.append(Events(of_comp.hour - p.PRECURSOR_LEAD_H, of_comp.machine, np.full(len(of_comp), error)))
    merged = Events.concat(parts)
    # a background error can hit the same hour and type as a precursor: keep one (unique key)
    key = (merged.machine * 24 + (merged.hour - ordinal * 24)) * n_err + merged.code
    _, first = np.unique(key, return_index=True)  # also sorts by machine, hour, type
    return merged.select(first)
