"""`pdm-simulate`: generate, extend or bulk-land the landing zone.

    pdm-simulate generate --machines 100 --start 2015-01-01 --days 365 --seed 42
    pdm-simulate generate --start 2025-01-01 --until yesterday      # a live timeline
    pdm-simulate append --days 1                                    # or: --until yesterday
    pdm-simulate land PdM_errors.csv PdM_maint.csv ... --first-day 2020-01-01
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Optional, Sequence

from pdm_assets.simulator.events import RegimeChange
from pdm_assets.simulator.landing import land_bulk
from pdm_assets.simulator.paths import default_landing_dir
from pdm_assets.simulator.simulate import ManifestError, append, generate


def parse_day(text: str) -> date:
    """An ISO date, or `today` / `yesterday` (local calendar) for live timelines."""
    relative = {"today": 0, "yesterday": 1}
    if text.lower() in relative:
        return date.today() - timedelta(days=relative[text.lower()])
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD, today or yesterday): {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _regime_change(text: str) -> RegimeChange:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected DAY:MODELS[:SHIFT], got {text!r}")
    try:
        return RegimeChange(parse_day(parts[0]), tuple(m for m in parts[1].split(",") if m),
                            int(parts[2]) if len(parts) == 3 else 1)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdm-simulate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--landing", type=Path, default=None,
        help="landing folder (default: $PDM_LANDING_DIR, else $PDM_HOME/landing, else ~/.pdm_assets/landing)",
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", parents=[common], help="write a fresh simulated timeline")
    gen.add_argument("--machines", type=_positive, default=100)
    gen.add_argument("--start", type=parse_day, default=date(2015, 1, 1), help="first day (default 2015-01-01)")
    span = gen.add_mutually_exclusive_group()
    span.add_argument("--days", type=_positive, default=365, help="number of days (default 365)")
    span.add_argument("--until", type=parse_day, help="last day, inclusive (YYYY-MM-DD or yesterday)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--regime-change", type=_regime_change, default=None, metavar="DAY:MODELS[:SHIFT]",
                     help="from DAY on, failures of the machines of MODELS (comma-separated) are announced by the "
                          "drift and errors of the component SHIFT (default 1) further, e.g. 2015-10-01:model3")

    app = commands.add_parser("append", parents=[common], help="continue the timeline in the landing folder")
    span = app.add_mutually_exclusive_group()
    span.add_argument("--days", type=_positive, default=1, help="days to add (default 1)")
    span.add_argument("--until", type=parse_day, help="add days up to this one, inclusive")

    land = commands.add_parser("land", parents=[common], help="split bulk CSVs into per-day landing files")
    land.add_argument("files", nargs="+", type=Path, help="bulk CSVs (telemetry, errors, maint, failures, machines)")
    land.add_argument("--first-day", type=parse_day, required=True,
                      help="first partition day: maint lines before it go to maint/history.csv")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; return the exit code (2 for bad arguments or an unusable landing folder)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help and on usage errors
        return int(exit_.code or 0)
    landing = args.landing or default_landing_dir()
    progress = not args.no_progress
    try:
        if args.command == "generate":
            summary = generate(landing, args.machines, args.start, args.days, args.seed, args.until, progress,
                               args.regime_change)
        elif args.command == "append":
            summary = append(landing, args.days, progress, until=args.until)
        else:
            summary = land_bulk(args.files, landing, args.first_day)
    except (ManifestError, ValueError, FileNotFoundError) as err:
        print(f"pdm-simulate {args.command}: error: {err}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
