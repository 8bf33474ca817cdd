"""Hourly telemetry of one day: noise around each machine's level, plus drift before failures."""
from __future__ import annotations

import numpy as np

from pdm_assets.simulator import params as p
from pdm_assets.simulator.events import Failures, Fleet
from pdm_assets.simulator.params import Stream, stream

HOURS = 24


def telemetry_day(seed: int, fleet: Fleet, failures: Failures, ordinal: int) -> np.ndarray:
    """Readings at 00:00..23:00 of day `ordinal`, shape (machines * 24, 4), machine-major.

    The noise of a day comes from its own stream, so a day is the same in any run that
    contains it; the drift comes from the failure schedule, which is known ahead.
    """
    rng = stream(seed, Stream.TELEMETRY, ordinal)
    noise = rng.standard_normal((fleet.size, HOURS, len(p.NORMAL_LEVEL)))
    values = p.NORMAL_LEVEL + p.SIGNAL_STD * fleet.baseline[:, None, :] + p.NOISE_STD * noise
    add_drift(values, failures, ordinal)
    return np.round(values.reshape(-1, len(p.NORMAL_LEVEL)), p.DECIMALS)


def drift_ramp(failures: Failures, hours: np.ndarray) -> np.ndarray:
    """Drift of each failure's signal at each of `hours`, in signal stds, shape (failures, hours).

    The reading `lead` hours before the failure has ramp (W - lead + 1) / W for lead in 1..W, so
    the last reading before the failure carries the full amplitude; the reading at the failure
    time itself is taken after the replacement and is normal again.
    """
    lead = failures.hour[:, None] - hours[None, :]
    window = failures.window[:, None]
    ramp = np.where((lead >= 1) & (lead <= window), (window - lead + 1) / window, 0.0)
    return failures.amp[:, None] * ramp**p.DRIFT_POWER


def add_drift(values: np.ndarray, failures: Failures, ordinal: int) -> None:
    """Add, in place, the drift of every failure whose window overlaps day `ordinal`."""
    day0 = ordinal * HOURS
    near = failures.select((failures.hour > day0) & (failures.hour - failures.window < day0 + HOURS))
    if not len(near):
        return
    signal = p.DRIFT_SIGNAL[near.pattern]
    offset = drift_ramp(near, day0 + np.arange(HOURS))
    offset *= (p.DRIFT_SIGN[near.pattern] * p.SIGNAL_STD[signal])[:, None]
    # np.add.at accumulates when two failures of one machine overlap (plain += would not)
    np.add.at(values, (near.machine[:, None], np.arange(HOURS)[None, :], signal[:, None]), offset)
