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


def test_telemetry_profile_counts_duplicates_missing_and_irregular_machine_days(spark) -> None:
    from datetime import date, datetime

    from pdm_assets.pipeline.quality import telemetry_profile

    d1, d2 = date(2015, 1, 1), date(2015, 1, 2)
    rows = [(datetime(2015, 1, 1, h), 1, d1) for h in range(24)]       # machine 1, day 1: complete
    rows += [(datetime(2015, 1, 1, 5), 1, d1)] * 2                      # ... plus two copies of one key
    rows += [(datetime(2015, 1, 2, h), 1, d2) for h in range(23)]       # machine 1, day 2: 23 readings
    rows += [(datetime(2015, 1, 1, h), 2, d1) for h in range(24)]       # machine 2, day 1: complete
    telemetry = spark.createDataFrame(rows, "datetime timestamp, machine_id int, date date")

    assert telemetry_profile(telemetry, ("datetime", "machine_id"), machine_count=3, days=[d1, d2]) == {
        "duplicate_rows": 2,
        "expected_machine_days": 6,
        "missing_machine_days": 3,     # machine 2 on day 2, machine 3 on both days
        "irregular_machine_days": 2,   # machine 1: 26 readings on day 1, 23 on day 2
    }


def test_feature_profile_per_day_with_the_known_machines(spark) -> None:
    from datetime import date, datetime

    from pdm_assets.pipeline.quality import feature_profile

    features = spark.createDataFrame([
        (1, datetime(2015, 1, 1, 0), date(2015, 1, 1), 1.0),
        (1, datetime(2015, 1, 1, 0), date(2015, 1, 1), None),   # the same key again, with a null
        (2, datetime(2015, 1, 2, 3), date(2015, 1, 2), 2.0),
    ], "machine_id int, timestamp timestamp, date date, f double")
    machines = spark.createDataFrame([(1,), (2,), (3,)], "machine_id int")

    per_day, known = feature_profile(features, machines, ["f"])
    assert known == 3
    assert per_day == {"2015-01-01": {"_rows": 2, "_keys": 1, "f": 1}, "2015-01-02": {"_rows": 1, "_keys": 1, "f": 0}}
    assert feature_profile(features.limit(0), machines, ["f"]) == ({}, 3)
