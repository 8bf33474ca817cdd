"""Measure a simulated landing zone against the published figures (DESIGN §6).

    python -m pdm_assets.simulator.calibrate --machines 100 --days 365

generates into a temporary folder, reads the files back and prints measured vs published
figures (event counts scaled to the run's machines and days) and the wall time.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pdm_assets.simulator.columns import COLUMNS, COMPONENTS, DAILY_DATASETS, ERROR_IDS, MACHINE_MODELS, SIGNALS
from pdm_assets.simulator.params import DRIFT_SIGNAL, PRECURSOR_ERRORS, PRECURSOR_LEAD_H
from pdm_assets.simulator.paths import MACHINES_FILE, MAINT_HISTORY_FILE
from pdm_assets.simulator.simulate import generate

# DESIGN §6: the published 100-machine year.
PUBLISHED_SIGNALS = {  # mean, std, min, max
    "volt": (170.78, 15.51, 97.33, 255.12),
    "rotate": (446.61, 52.67, 138.43, 695.02),
    "pressure": (100.86, 11.05, 51.24, 185.95),
    "vibration": (40.39, 5.37, 14.88, 76.79),
}
PUBLISHED_ERRORS = dict(zip(ERROR_IDS, (1010, 988, 838, 727, 356)))
PUBLISHED_MAINT = dict(zip(COMPONENTS, (804, 863, 808, 811)))  # incl. 400 history records
PUBLISHED_HISTORY = 400
PUBLISHED_FAILURES = dict(zip(COMPONENTS, (192, 259, 131, 179)))
PUBLISHED_BACKGROUND_ERRORS = 2850
PUBLISHED_PRECURSOR_PCT = dict(zip(COMPONENTS, (96.0, 99.0, 98.0, 97.0)))
PUBLISHED_MODEL_SHARE = dict(zip(MACHINE_MODELS, (16.0, 17.0, 35.0, 32.0)))


def load(landing: Path) -> dict[str, pd.DataFrame]:
    """All day files of each dataset concatenated, plus `history` and `machines`."""
    frames = {}
    for dataset in DAILY_DATASETS:
        # explicit types: a header-only day file would otherwise read as all-null columns
        kinds = {"datetime": pa.timestamp("s"), "machineID": pa.int64()}
        types = {c: kinds.get(c, pa.float64() if c in SIGNALS else pa.string()) for c in COLUMNS[dataset]}
        options = pacsv.ConvertOptions(column_types=types)
        files = sorted((landing / dataset).glob("????-??-??.csv"))
        frames[dataset] = pa.concat_tables([pacsv.read_csv(f, convert_options=options) for f in files]).to_pandas()
    frames["history"] = pd.read_csv(landing / MAINT_HISTORY_FILE, parse_dates=["datetime"])
    frames["machines"] = pd.read_csv(landing / MACHINES_FILE)
    return frames


def precursor_pct(errors: pd.DataFrame, failures: pd.DataFrame) -> dict[str, float]:
    """% of failures of each component with all their paired error types in [F-24h, F)."""
    lead = pd.Timedelta(hours=PRECURSOR_LEAD_H)
    pairs = failures.reset_index().merge(errors, on="machineID", suffixes=("", "_e"))
    pairs = pairs[(pairs.datetime_e >= pairs.datetime - lead) & (pairs.datetime_e < pairs.datetime)]
    found = pairs.groupby("index").errorID.agg(set)
    result = {}
    for comp, error_idx in zip(COMPONENTS, PRECURSOR_ERRORS):
        wanted = {ERROR_IDS[i] for i in error_idx}
        of_comp = failures.index[failures.failure == comp]
        hits = sum(wanted <= found.get(i, set()) for i in of_comp)
        result[comp] = 100.0 * hits / max(len(of_comp), 1)
    return result


def background_errors(errors: pd.DataFrame, failures: pd.DataFrame) -> int:
    """Errors not within the 24 h before any failure of their machine."""
    lead = pd.Timedelta(hours=PRECURSOR_LEAD_H)
    pairs = errors.reset_index().merge(failures, on="machineID", suffixes=("", "_f"))
    near = pairs[(pairs.datetime >= pairs.datetime_f - lead) & (pairs.datetime < pairs.datetime_f)]
    return len(errors) - near["index"].nunique()


def drift_z(telemetry: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """Mean over failures of (signal over [F-24h, F) - machine median) / std, component x signal."""
    t0 = telemetry.datetime.min()
    hour = ((telemetry.datetime - t0) // pd.Timedelta(hours=1)).to_numpy()
    grid = np.full((telemetry.machineID.max(), hour.max() + 1, len(SIGNALS)), np.nan)
    grid[telemetry.machineID.to_numpy() - 1, hour] = telemetry[list(SIGNALS)].to_numpy()
    normal = np.nanmedian(grid, axis=1)  # the median ignores the rare drift hours
    std = telemetry[list(SIGNALS)].std().to_numpy()
    f_hour = ((failures.datetime - t0) // pd.Timedelta(hours=1)).to_numpy()
    result = pd.DataFrame(np.nan, index=list(COMPONENTS), columns=list(SIGNALS))
    for comp in COMPONENTS:
        sel = (failures.failure == comp).to_numpy() & (f_hour >= 24)  # a full day of telemetry before
        m, h = failures.machineID.to_numpy()[sel] - 1, f_hour[sel]
        window = grid[m[:, None], h[:, None] - np.arange(1, 25)[None, :]]  # (failures, 24, signals)
        result.loc[comp] = np.mean((np.nanmean(window, axis=1) - normal[m]) / std, axis=0)
    return result


def measure(frames: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The calibration figures of a loaded landing zone, keyed by row name."""
    tel, err, fail, maint = (frames[d] for d in ("telemetry", "errors", "failures", "maint"))
    hist, machines = frames["history"], frames["machines"]
    out: dict[str, float] = {"telemetry rows": len(tel)}
    for s in SIGNALS:
        column = tel[s]
        out.update({f"{s} mean": column.mean(), f"{s} std": column.std(),
                    f"{s} min": column.min(), f"{s} max": column.max()})
    out["errors"] = len(err)
    out.update({e: int((err.errorID == e).sum()) for e in ERROR_IDS})
    everything = pd.concat([hist, maint])
    out["maint (incl. history)"] = len(everything)
    out["maint history"] = len(hist)
    out.update({f"maint {c}": int((everything.comp == c).sum()) for c in COMPONENTS})
    out["failures"] = len(fail)
    out.update({f"failures {c}": int((fail.failure == c).sum()) for c in COMPONENTS})
    out["failures at 06:00 %"] = 100.0 * (fail.datetime.dt.hour == 6).mean()
    joined = fail.merge(maint, left_on=["datetime", "machineID", "failure"], right_on=["datetime", "machineID", "comp"])
    out["failures with replacement %"] = 100.0 * len(joined) / max(len(fail), 1)
    out.update({f"precursor {c} %": v for c, v in precursor_pct(err, fail).items()})
    out["background errors"] = background_errors(err, fail)
    drift = drift_z(tel, fail)
    out.update({f"drift {c} {SIGNALS[s]} (z)": drift.loc[c, SIGNALS[s]] for c, s in zip(COMPONENTS, DRIFT_SIGNAL)})
    out.update({f"{m} %": 100.0 * (machines.model == m).mean() for m in MACHINE_MODELS})
    out["age min"], out["age max"] = machines.age.min(), machines.age.max()
    return out


def targets(machines: int, days: int) -> dict[str, Optional[float]]:
    """Published figures, event counts scaled to `machines` x `days` (history to `machines`)."""
    scale, fleet = machines / 100 * days / 365, machines / 100
    out: dict[str, Optional[float]] = {"telemetry rows": machines * days * 24}
    for s, (mean, std, lo, hi) in PUBLISHED_SIGNALS.items():
        out.update({f"{s} mean": mean, f"{s} std": std, f"{s} min": lo, f"{s} max": hi})
    out["errors"] = sum(PUBLISHED_ERRORS.values()) * scale
    out.update({e: v * scale for e, v in PUBLISHED_ERRORS.items()})
    in_year = {c: v - PUBLISHED_HISTORY / 4 for c, v in PUBLISHED_MAINT.items()}
    out["maint (incl. history)"] = sum(in_year.values()) * scale + PUBLISHED_HISTORY * fleet
    out["maint history"] = PUBLISHED_HISTORY * fleet
    out.update({f"maint {c}": v * scale + PUBLISHED_HISTORY / 4 * fleet for c, v in in_year.items()})
    out["failures"] = sum(PUBLISHED_FAILURES.values()) * scale
    out.update({f"failures {c}": v * scale for c, v in PUBLISHED_FAILURES.items()})
    out["failures at 06:00 %"] = 100.0 * 743 / 761
    out["failures with replacement %"] = 100.0 * 743 / 761  # published: the 03:00 ones have none
    out.update({f"precursor {c} %": v for c, v in PUBLISHED_PRECURSOR_PCT.items()})
    out["background errors"] = PUBLISHED_BACKGROUND_ERRORS * scale
    out.update({f"drift {c} {SIGNALS[s]} (z)": None for c, s in zip(COMPONENTS, DRIFT_SIGNAL)})
    out.update({f"{m} %": v for m, v in PUBLISHED_MODEL_SHARE.items()})
    out["age min"], out["age max"] = 0, 20
    return out


def report(measured: dict[str, float], target: dict[str, Optional[float]]) -> str:
    """A plain-text table: figure, measured, published (scaled), deviation."""
    lines = [f"{'figure':<28}{'measured':>14}{'published':>14}{'dev %':>9}"]
    for name, value in measured.items():
        ref = target.get(name)
        dev = f"{100.0 * (value - ref) / ref:+.1f}" if ref else ""
        ref_text = f"{ref:,.2f}" if ref is not None else "-"
        lines.append(f"{name:<28}{value:>14,.2f}{ref_text:>14}{dev:>9}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2015, 1, 1))
    parser.add_argument("--timing-only", action="store_true", help="generate and time, skip the measurements")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pdm-calibrate-") as tmp:
        began = time.perf_counter()
        summary = generate(Path(tmp), args.machines, args.start, args.days, args.seed, progress=True)
        wall = time.perf_counter() - began
        print(summary)
        print(f"generation wall time: {wall:.1f} s")
        if not args.timing_only:
            print(report(measure(load(Path(tmp))), targets(args.machines, args.days)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
