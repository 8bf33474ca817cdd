"""The shared wiring: each day's record carries its own figures and the commit; the run's adds them up."""
from __future__ import annotations

from datetime import date

from dagster import MetadataValue

from pdm_assets.assets.wiring import ROW_COUNT, days_record
from pdm_assets.storage.base import Commit
from pdm_assets.storage.delta_store import DeltaTableStore

DAYS = [date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)]


def test_each_day_gets_its_figures_and_the_version_that_wrote_it(tmp_path):
    rows = {"2015-01-01": 5, "2015-01-03": 7}  # no row on the 2nd: still recorded, with 0
    store = DeltaTableStore.local(tmp_path)
    record = days_record(DAYS, lambda d: {ROW_COUNT: MetadataValue.int(rows.get(d, 0))}, store,
                         Commit("machine_features", 12, tuple(DAYS)))
    assert list(record.per_day) == ["2015-01-01", "2015-01-02", "2015-01-03"]
    assert [m[ROW_COUNT].value for m in record.per_day.values()] == [5, 0, 7]
    assert {m["delta_version"].value for m in record.per_day.values()} == {12}
    assert record.run["run_row_count"].value == 12 and record.run["delta_version"].value == 12
    assert (record.run["run_first_day"].value, record.run["run_last_day"].value) == ("2015-01-01", "2015-01-03")
    assert record.run["table"].value == "pdm.machine_features"


def test_without_a_commit_only_the_figures_are_recorded():
    # a step whose rows the IO manager writes at the yield: the manager adds table and version itself
    record = days_record(DAYS[:1], lambda d: {ROW_COUNT: MetadataValue.int(3)})
    assert record.per_day == {"2015-01-01": {ROW_COUNT: MetadataValue.int(3)}}
    assert set(record.run) == {"run_first_day", "run_last_day", "run_row_count"}
