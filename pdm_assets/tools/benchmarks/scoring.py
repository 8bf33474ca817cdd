"""Scoring throughput (1 day, 90 days) and new-day latency, embedded Spark vs a warm Spark Connect server.

    python -m pdm_assets.tools.benchmarks.scoring --home /tmp/bench100    # a year of features and a champion
    python -m pdm_assets.tools.benchmarks.scoring --machines 100          # builds both first (several minutes)

"New day" = the next day lands in the landing zone (simulator), then one run ingests it, builds its
features and labels and scores it: "predictions written" is when the predictions' materialization
is recorded, the latency a sensor-triggered run adds without the run launcher's process start.
Three new days run one after the other: the second and third meet a warm session. Each mode runs in
its own process (one Spark flavour per process); the per-step table shows where the third day's time goes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

YEAR_START = date(2015, 1, 1)


NEW_DAY_SELECTION = ("key:raw_telemetry or key:raw_errors or key:raw_maint or key:raw_failures or group:features "
                     "or key:failure_predictions")


def _materialize(selection: str, first: date | None = None, last: date | None = None) -> dict:
    """Run one in-process materialization; its wall time, each step's time and when predictions were written."""
    from dagster import AssetSelection, DagsterEventType, DagsterInstance, materialize

    from pdm_assets.tools.benchmarks.features_backfill import step_seconds
    from pdm_assets.deployments import Settings
    from pdm_assets.definitions import build_definitions
    from pdm_assets.partitions import range_tags

    defs = build_definitions(Settings.from_env())
    began_wall, began = time.time(), time.perf_counter()
    with DagsterInstance.get() as instance:
        result = materialize(
            list(defs.assets), selection=AssetSelection.from_string(selection), resources=defs.resources,
            instance=instance, raise_on_error=True,
            tags=range_tags(first, last) if first else {},
        )
        elapsed = time.perf_counter() - began
        records = instance.all_logs(result.run_id)
    assert result.success
    predictions_at = next((record.timestamp - began_wall for record in records
                           if record.dagster_event is not None
                           and record.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                           and record.dagster_event.asset_key.path[-1] == "failure_predictions"), None)
    steps = {step: round(seconds, 2) for step, seconds in step_seconds(result).items()}
    return {"total_s": elapsed, "steps": steps, "predictions_s": predictions_at}


def _new_day(day: date) -> dict:
    """The day lands in the landing zone (simulator), then one run ingests, builds features and scores it."""
    from pdm_assets.simulator import append

    append(Path(os.environ["PDM_HOME"]) / "landing", until=day, progress=False)
    return _materialize(NEW_DAY_SELECTION, day, day)


def _measure(machines: int, last_day: date) -> dict:
    """Runs inside the child process: warm-up, one day, 90 days, then three new days end to end.

    The first new day meets a session that has only scored so far; the next ones meet plans the
    server has already run (compiled code), as a long-lived server would.
    """
    figures = {"warm_up_s": _materialize("key:failure_predictions", last_day, last_day)["total_s"]}
    figures["one_day_s"] = _materialize("key:failure_predictions", last_day, last_day)["total_s"]
    figures["ninety_days_s"] = _materialize(
        "key:failure_predictions", last_day - timedelta(days=89), last_day)["total_s"]
    for name, day in (("new_day_first", last_day + timedelta(days=1)), ("new_day_second", last_day + timedelta(days=2)),
                      ("new_day", last_day + timedelta(days=3))):
        run = _new_day(day)
        figures[f"{name}_s"], figures[f"{name}_predictions_s"] = run["total_s"], run["predictions_s"]
        figures[f"{name}_steps"] = run["steps"]
    figures["rows_per_day"] = machines * 8
    return figures


def _child(mode: str, home: Path, machines: int, last_day: date) -> dict[str, float]:
    env = {**os.environ, "PDM_HOME": str(home), "PDM_START_DATE": YEAR_START.isoformat(),
           "PDM_END_DATE": (last_day + timedelta(days=4)).isoformat(),
           "DAGSTER_HOME": str(home / "dagster_bench"), "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}
    (home / "dagster_bench").mkdir(exist_ok=True)
    (home / "dagster_bench" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    args = [sys.executable, "-m", "pdm_assets.tools.benchmarks.scoring", "--child", mode, "--home", str(home),
            "--machines", str(machines), "--last-day", last_day.isoformat()]
    if mode == "connect":
        from pdm_assets.tools.connect_server import connect_server

        with connect_server(home / "connect_server", shuffle_partitions=8) as remote:
            out = subprocess.run(args, env={**env, "PDM_DEPLOYMENT": "connect", "SPARK_REMOTE": remote},
                                 capture_output=True, text=True)
    else:
        out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{mode} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=None)
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--child", choices=("embedded", "connect"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--last-day", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_measure(args.machines, date.fromisoformat(args.last_day))))
        return
    home = args.home or _prepare(args.machines)
    from pdm_assets.storage.delta_store import DeltaTableStore

    last_day = DeltaTableStore.local(home / "warehouse").existing_days("machine_features")[-1]
    # Each mode gets its own copy: the new-day step appends to the landing zone and tables.
    results = {}
    for mode in ("embedded", "connect"):
        copy = Path(tempfile.mkdtemp(prefix=f"pdm_score_{mode}_"))
        subprocess.run(["cp", "-a", f"{home}/.", str(copy)], check=True)
        results[mode] = _child(mode, copy, args.machines, last_day)
    rows = results["embedded"]["rows_per_day"]
    print(f"\n== scoring, {args.machines} machines ({rows} rows per day), champion from {home} ==")
    print(f"{'':34}{'embedded':>12}{'connect':>12}")
    for key, label in (("warm_up_s", "first run (session start) s"), ("one_day_s", "one day, warm s"),
                       ("ninety_days_s", "90-day range, warm s"),
                       ("new_day_first_predictions_s", "new day 1: predictions written s"),
                       ("new_day_first_s", "new day 1: whole run s"),
                       ("new_day_second_predictions_s", "new day 2: predictions written s"),
                       ("new_day_second_s", "new day 2: whole run s"),
                       ("new_day_predictions_s", "new day 3: predictions written s"),
                       ("new_day_s", "new day 3: whole run s")):
        print(f"{label:34}" + "".join(f"{results[m][key]:>12.1f}" for m in results))
    for key, n in (("one_day_s", rows), ("ninety_days_s", rows * 90)):
        print(f"{'rows/s, ' + key.removesuffix('_s').replace('_', ' '):34}"
              + "".join(f"{n / results[m][key]:>12,.0f}" for m in results))
    print("new day 3, seconds per step (in run order):")
    for step in results["embedded"]["new_day_steps"]:
        print(f"  {step:32}" + "".join(f"{results[m]['new_day_steps'].get(step, float('nan')):>12.2f}" for m in results))


def _prepare(machines: int) -> Path:
    """A year of features and a champion: the features backfill, then the training assets."""
    from pdm_assets.tools.benchmarks.features_backfill import run_backfill

    home, _ = run_backfill(None, machines, 365, 42)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_bench")
    (home / "dagster_bench").mkdir(exist_ok=True)
    (home / "dagster_bench" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    _materialize("group:training")
    return home


if __name__ == "__main__":
    main()
