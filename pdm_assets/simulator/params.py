"""Calibrated parameters of the simulator and its random streams.

Every number here was tuned so that 100 machines x 365 days reproduce the published Azure PdM
figures of DESIGN §6 (see `python -m pdm_assets.simulator.calibrate`). Rates are per machine and
day; indices follow `columns.COMPONENTS`, `ERROR_IDS` and `SIGNALS`.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np


# Written to the landing manifest; `append` refuses a timeline made by another version, since it
# would continue it with different data. Bump it whenever a number in this module changes.
VERSION = 1


class Stream(IntEnum):
    """Independent random streams. Each draw is keyed by (seed, stream, key) - a day ordinal for
    the daily streams - so any day can be regenerated alone and a longer run is a byte-exact
    extension of a shorter one."""

    FLEET = 1
    EVENTS = 2
    ERRORS = 3
    TELEMETRY = 4


def stream(seed: int, which: Stream, *keys: int) -> np.random.Generator:
    """A generator for one (seed, stream, keys) cell; keys must be non-negative ints."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(which), *keys])))


# --- fleet -----------------------------------------------------------------------------------
MODEL_SHARES = (0.16, 0.17, 0.35, 0.32)  # model1..model4, as published
MAX_MACHINE_AGE = 20  # years, integer ages 0..20
FRAILTY_SIGMA = 0.3  # log-normal spread of a machine's failure proneness (published counts are overdispersed)
FRAILTY_PER_YEAR = 0.02  # older machines fail a little more often
BASELINE_SIGMA = 0.1  # per-machine offset of each signal's normal level, in signal stds

# --- maintenance and failures ----------------------------------------------------------------
HISTORY_DAYS = 214  # the published maintenance starts 2014-06-01, 214 days before 2015-01-01
VISIT_DAYS = 15  # each machine is serviced every 15 days (the published scheduled replacements)
MAINT_HOUR = 6
# Probability that a visit replaces a component (scheduled replacement), per component.
SCHEDULED_P = np.array([0.2136, 0.2091, 0.2370, 0.2191])
# Failure hazard per day: BASE * frailty * (age_days / AGE_SCALE) ** (SHAPE - 1), a Weibull
# hazard so that "days since the last replacement" carries signal, as in the published data.
FAILURE_SHAPE = 1.5
FAILURE_AGE_SCALE = 60.0
FAILURE_BASE = np.array([0.00693, 0.00975, 0.00467, 0.00650])
FAILURE_EARLY_HOUR, FAILURE_EARLY_P = 3, 0.03  # published: 743 failures at 06:00, 18 at 03:00

# --- errors ----------------------------------------------------------------------------------
# Errors that announce a failure: component -> error indices, emitted PRECURSOR_LEAD_H before
# the failure (the published precursors sit exactly 24 h before) with probability PRECURSOR_P.
PRECURSOR_ERRORS = ((0,), (1, 2), (3,), (4,))
PRECURSOR_P = np.array([0.96, 0.99, 0.98, 0.97])
PRECURSOR_LEAD_H = 24
# Background errors (not tied to a failure): at most one per machine, day and type.
BACKGROUND_ERROR_P = np.array([0.02263, 0.02005, 0.01594, 0.01641, 0.00499])
BACKGROUND_6AM_P = 0.28  # published: ~29% of unrelated errors are stamped 06:00, the rest spread

# --- telemetry -------------------------------------------------------------------------------
# The published overall means and stds include the drift before failures (0.7-1.4% of the hours
# of a signal; E[amp * ramp] = 1.5 std, E[(amp * ramp)**2] = 3.1 std**2) and the machine
# baselines; the normal level and the hourly noise are what is left of them.
SIGNAL_STD = np.array([15.51, 52.67, 11.05, 5.37])  # published overall stds: the drift unit
NORMAL_LEVEL = np.array([170.54, 447.73, 100.74, 40.31])
NOISE_STD = np.array([15.18, 51.22, 10.87, 5.26])
# Drift before a failure of component c: signal DRIFT_SIGNAL[c] moves by DRIFT_SIGN[c] * amp *
# SIGNAL_STD * ramp ** DRIFT_POWER, ramp growing 0 -> 1 over a window of W hours before failure.
DRIFT_SIGNAL = np.array([0, 1, 2, 3])  # comp1->volt, comp2->rotate, comp3->pressure, comp4->vibration
DRIFT_SIGN = np.array([1.0, -1.0, 1.0, 1.0])  # rotate drops, the others rise
DRIFT_WINDOW_H = (36, 60)  # inclusive range of W
DRIFT_AMP = (2.0, 4.0)  # amplitude at the failure, in signal stds
DRIFT_POWER = 1.0  # linear ramp: faint two days ahead, strong in the last hours
DECIMALS = 6  # telemetry values are written rounded to 6 decimals
