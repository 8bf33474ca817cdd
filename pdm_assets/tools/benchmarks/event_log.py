"""Recording a range run's per-day materializations: Dagster's SQLite event log against the batched one.

    python -m pdm_assets.tools.benchmarks.event_log --days 365 --repeats 3

One asset over `--days` daily partitions that records each day's metadata (as every daily asset of
the project does), run in a fresh instance of each kind; prints the best wall time of each and the
ratio. No Spark: only what Dagster spends on the records.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

STOCK_YAML = "telemetry:\n  enabled: false\n"


def _one_run(kind: str, days: int) -> float:
    """Seconds of one range run in a fresh instance (`stock` or `batched`), in this process."""
    from dagster import (
        BackfillPolicy, DagsterInstance, DailyPartitionsDefinition, MaterializeResult,
        asset, materialize,
    )

    from pdm_assets.deployments.instance import instance_yaml
    from pdm_assets.partitions import range_tags

    home = Path(tempfile.mkdtemp(prefix=f"pdm_event_log_{kind}_"))
    (home / "dagster.yaml").write_text(instance_yaml(home) if kind == "batched" else STOCK_YAML)
    first = date(2015, 1, 1)
    partitions = DailyPartitionsDefinition(start_date=first.isoformat(),
                                           end_date=(first + timedelta(days=days)).isoformat())

    @asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
    def daily(context):  # not annotated: the import is local, and annotations here are strings
        for key in context.partition_keys:
            context.add_asset_metadata({"dagster/row_count": 800, "delta_version": 3}, partition_key=key)
        yield MaterializeResult(metadata={"run_days": len(context.partition_keys)})

    with DagsterInstance.from_config(str(home)) as instance:
        began = time.perf_counter()
        result = materialize([daily], instance=instance, tags=range_tags(first, first + timedelta(days=days - 1)))
        seconds = time.perf_counter() - began
        assert result.success and len(instance.get_materialized_partitions(daily.key)) == days
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kind", choices=("stock", "batched"), help=argparse.SUPPRESS)  # one run, in a child
    args = parser.parse_args(argv)
    if args.kind:
        print(f"{_one_run(args.kind, args.days):.3f}")
        return 0
    best = {}
    for kind in ("stock", "batched"):  # each run in its own process: the batch setting stays with its instance
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_EVENT_BATCH_SIZE"}
        times = [float(subprocess.run([sys.executable, "-m", "pdm_assets.tools.benchmarks.event_log", "--kind", kind, "--days", str(args.days)],
                                      check=True, capture_output=True, text=True, env=env).stdout.split()[-1])
                 for _ in range(args.repeats)]
        best[kind] = min(times)
        print(f"{kind:8s} {args.days} per-day materializations: best {best[kind]:.2f} s of "
              f"{', '.join(f'{t:.2f}' for t in times)}")
    print(f"ratio stock / batched: {best['stock'] / best['batched']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
