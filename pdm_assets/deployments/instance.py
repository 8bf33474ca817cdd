"""Dagster's SQLite event log, storing a range run's per-day materializations in one transaction each.

A step that writes a year records 365 materializations (one per day, each with its figures). The
stock SQLite storage opens two databases, commits and closes them for every event, a cost paid
thousands of times in a year's run of ten daily assets (docs/benchmarks.md). Dagster already hands such
events over in batches when `DAGSTER_EVENT_BATCH_SIZE` is set; only its SQLite storage stores them
one by one. This one writes a batch with one insert into the run's database and one transaction in
the index. The rows are the same ones the stock storage writes, so the UI and `dagster dev` read them
as usual, and an instance can switch back by removing the `event_log_storage` entry.
"""
from __future__ import annotations

import os
from itertools import groupby
from pathlib import Path
from typing import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

# Dagster's batches are this long at most: a year of days is one or two of them.
EVENT_BATCH_SIZE = 250
BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log whose batches of asset events are stored in one transaction per database."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        # Dagster forms batches only when this is set, in the process that runs the step: an
        # instance configured with this storage batches wherever it is loaded (pdm-demo, dagster dev).
        os.environ.setdefault(BATCH_SIZE_VARIABLE, str(EVENT_BATCH_SIZE))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # in their order: consecutive asset events of one run together, anything else as Dagster stores it
        for (is_asset, run_id), group in groupby(events, key=lambda e: (_is_asset_event(e), e.run_id)):
            of_run = list(group)
            if not is_asset:
                for event in of_run:
                    self.store_event(event)
                continue
            with self.run_connection(run_id) as conn:
                conn.execute(self.prepare_insert_event_batch(of_run))
            with self.index_transaction() as conn:
                ids = [conn.execute(self.prepare_insert_event(e)).inserted_primary_key[0] for e in of_run]
                self._store_asset_event_tags(conn, of_run, ids)
                for event, event_id in zip(of_run, ids):
                    self._store_asset_event(conn, event, event_id)


def _is_asset_event(event: EventLogEntry) -> bool:
    return event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS


def instance_yaml(dagster_home: Path) -> str:
    """A dagster.yaml for a local instance: no usage telemetry, the batched event log in the usual place."""
    return ("telemetry:\n  enabled: false\n"
            "event_log_storage:\n"
            f"  module: {__name__}\n"
            f"  class: {BatchedSqliteEventLogStorage.__name__}\n"
            "  config:\n"
            f"    base_dir: {dagster_home / 'history' / 'runs'}\n")
