"""Coverage of scored rows over their source rows, by key, from one job."""
from __future__ import annotations

from pdm_assets.pipeline.quality import coverage_counts

KEYS = ["machine_id", "timestamp"]


def test_coverage_counts_every_way_rows_can_fail_to_match(spark) -> None:
    scored = spark.createDataFrame(
        [(1, 3), (1, 3), (1, 6), (2, 3), (9, 3)],  # (1, 3) twice; machine 9 has no source row
        "machine_id int, timestamp int")
    source = spark.createDataFrame([(1, 3), (1, 6), (2, 3), (2, 6), (3, 3)], "machine_id int, timestamp int")

    assert coverage_counts(scored, source, KEYS) == {
        "rows": 5, "distinct_keys": 4, "source_rows": 5,
        "source_rows_unmatched": 2,  # (2, 6) and (3, 3)
        "scored_rows_unmatched": 1,  # (9, 3)
    }


def test_full_coverage_and_empty_frames(spark) -> None:
    rows = spark.createDataFrame([(1, 3), (2, 3)], "machine_id int, timestamp int")
    empty = spark.createDataFrame([], "machine_id int, timestamp int")

    assert coverage_counts(rows, rows, KEYS) == {"rows": 2, "distinct_keys": 2, "source_rows": 2,
                                                 "source_rows_unmatched": 0, "scored_rows_unmatched": 0}
    assert coverage_counts(empty, rows, KEYS)["source_rows_unmatched"] == 2
    assert coverage_counts(empty, empty, KEYS) == dict.fromkeys(
        ("rows", "distinct_keys", "source_rows", "source_rows_unmatched", "scored_rows_unmatched"), 0)
