"""Dagster beta parameters this project uses on purpose: their BetaWarnings tell a user nothing to act on."""
from __future__ import annotations

import warnings

from dagster import BetaWarning

# parameter -> why the project relies on it
CHOSEN_BETA_PARAMETERS = {
    "backfill_policy": "every Spark asset materializes a range of days as one step (single-run backfill)",
    "allow_nonexistent_upstream_partitions": "a day's features look back over days before the timeline starts",
    "include_sources": "Dagster's own parser of string selections ('group:raw') passes it",
}


def ignore_chosen_beta_warnings() -> None:
    """Hide the BetaWarnings of the parameters above only; every other warning still shows."""
    for name in CHOSEN_BETA_PARAMETERS:
        warnings.filterwarnings("ignore", message=rf"Parameter `{name}` ", category=BetaWarning)
