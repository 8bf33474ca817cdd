"""Full-range single-run backfill of raw assets, features and labels; prints time, rate, memory.

    python -m pdm_assets.tools.benchmarks.features_backfill --machines 100 --days 365
    python -m pdm_assets.tools.benchmarks.features_backfill --machines 100 --days 365 --standalone-workers 2

Then the same features and labels from the same landing files with DuckDB (`columnar_floor`,
needs `pip install -e ".[bench]"`): its time, the ratio, and every grid point compared.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Optional


from pdm_assets.tools.demo import PLANNED_EVENTS_AS_SUBSETS

FIRST_DAY = date(2015, 1, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--home", type=Path, default=None, help="PDM_HOME to use (default: a new temp folder)")
    p.add_argument("--per-partition-planned-events", action="store_true",
                   help="Dagster's default: one 'planned' event per asset and day before the run starts "
                        "(~12 ms each); without it the run records one per asset (see the README)")
    p.add_argument("--no-floor", action="store_true", help="skip the DuckDB yardstick (columnar_floor)")
    p.add_argument("--standalone-workers", type=int, default=0, metavar="N",
                   help="run on a Spark standalone cluster of N one-core workers started on loopback "
                        "(tools/standalone_cluster.py) instead of the embedded local[*]")
    args = p.parse_args()
    if not args.per_partition_planned_events:
        os.environ.setdefault(PLANNED_EVENTS_AS_SUBSETS, "true")

    with ExitStack() as stack:
        if args.standalone_workers:
            from pdm_assets.tools.standalone_cluster import StandaloneCluster

            cluster = stack.enter_context(StandaloneCluster(workers=args.standalone_workers))
            os.environ["PDM_SPARK_MASTER"] = cluster.url
            print(f"Spark standalone cluster {cluster.url}: {args.standalone_workers} workers, 1 core each")
        home, wall = run_backfill(args.home, args.machines, args.days, args.seed)
    if not args.no_floor:
        print_floor(home, args.days, wall)


def print_floor(home: Path, days: int, wall: float) -> None:
    """The same features and labels by DuckDB: its time, the ratio, and whether every grid point agrees."""
    from pdm_assets.tools.benchmarks.columnar_floor import measure

    floor, problems = measure(home / "landing", home / "warehouse", FIRST_DAY, FIRST_DAY + timedelta(days=days - 1))
    print(f"columnar floor (DuckDB, same landing files) {floor.seconds:8.1f} s   backfill / floor {wall / floor.seconds:.1f}x")
    if problems:
        print("the floor and the project's tables DIFFER:\n  " + "\n  ".join(problems))
        raise SystemExit(1)
    print(f"same rows: {floor.feature_rows:,} feature rows and {floor.label_rows:,} labels compared value by value, "
          "all equal")


def run_backfill(home: Optional[Path], machines: int, days: int, seed: int) -> tuple[Path, float]:
    """Simulate, then one range run of raw assets, features and labels; print the figures; PDM_HOME and wall time."""
    home = home or Path(tempfile.mkdtemp(prefix="pdm_bench_"))
    os.environ["PDM_HOME"] = str(home)
    os.environ.setdefault(PLANNED_EVENTS_AS_SUBSETS, "true")
    start = FIRST_DAY
    last = start + timedelta(days=days - 1)

    from pdm_assets.simulator import generate

    began = time.perf_counter()
    sim = generate(home / "landing", machines=machines, start=start, days=days, seed=seed, progress=False)
    simulate_s = time.perf_counter() - began

    from dagster import AssetSelection, instance_for_test, materialize

    from pdm_assets.tools.benchmarks.memory import peak_memory_mib
    from pdm_assets.deployments import Settings
    from pdm_assets.definitions import build_definitions
    from pdm_assets.partitions import range_tags

    defs = build_definitions(Settings.from_env())
    began = time.perf_counter()
    with instance_for_test() as instance:
        result = materialize(
            list(defs.assets), selection=AssetSelection.groups("raw", "features"), resources=defs.resources,
            instance=instance, raise_on_error=True,
            tags=range_tags(start, last),
        )
        wall = time.perf_counter() - began
        steps = step_seconds(result)
        runs = len(instance.get_runs())
        recording = _materialization_recording(instance, result.run_id)
    memory = peak_memory_mib()
    telemetry_rows = sim.rows.get("telemetry", 0)
    feature_rows = machines * days * 8
    print(f"\n== raw + features + labels, {machines} machines x {days} days, one run ({runs} run) ==")
    print(f"planned events as subsets: {os.environ.get(PLANNED_EVENTS_AS_SUBSETS, 'false')} ({PLANNED_EVENTS_AS_SUBSETS})")
    print(f"simulate (not in the wall time)   {simulate_s:8.1f} s")
    print(f"wall time, raw -> features/labels {wall:8.1f} s")
    print(f"telemetry rows                    {telemetry_rows:>10,}  ({telemetry_rows / wall:,.0f} rows/s end to end)")
    print(f"feature rows                      {feature_rows:>10,}")
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        count, spent = recording.get(step, (0, 0.0))
        print(f"  step {step:<28} {seconds:8.1f} s   ({count} materializations recorded in {spent:.1f} s)")
    print(f"peak memory: python {memory['python']:,.0f} MiB, Spark JVM {memory['jvm']:,.0f} MiB")
    print(f"PDM_HOME {home}")
    return home, wall


def step_seconds(result) -> dict[str, float]:
    """Seconds each successful step of an in-process run took, by step key, in run order."""
    return {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS"}


def _materialization_recording(instance, run_id: str) -> dict[str, tuple[int, float]]:
    """Per step: how many materialization events, and the seconds from the first to the last."""
    stamps: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value == "ASSET_MATERIALIZATION":
            stamps.setdefault(event.step_key, []).append(entry.timestamp)
    return {step: (len(t), max(t) - min(t)) for step, t in stamps.items()}


if __name__ == "__main__":
    main()
