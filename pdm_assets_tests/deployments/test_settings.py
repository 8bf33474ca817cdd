"""The environment switch: deployment and timeline settings, read once, with clear errors."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from pdm_assets.deployments import Settings, utc_today


def test_defaults_are_the_published_year_on_embedded_spark(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path)})
    assert (s.deployment, s.start, s.end, s.last_day()) == ("local", date(2015, 1, 1), date(2016, 1, 1), date(2015, 12, 31))
    assert s.landing_dir == tmp_path / "landing" and s.warehouse == tmp_path / "warehouse"


def test_a_start_alone_gives_a_bounded_year_and_open_gives_a_live_timeline(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path), "PDM_START_DATE": "2020-01-01"})
    assert s.end == date(2020, 12, 31)
    start = utc_today() - timedelta(days=30)
    live = Settings.from_env({"PDM_HOME": str(tmp_path), "PDM_START_DATE": start.isoformat(), "PDM_END_DATE": "open"})
    assert live.end is None and live.last_day() == utc_today() - timedelta(days=1)


def test_spark_remote_alone_selects_spark_connect(tmp_path):
    s = Settings.from_env({"PDM_HOME": str(tmp_path), "SPARK_REMOTE": "sc://127.0.0.1:15002"})
    assert (s.deployment, s.spark_remote) == ("connect", "sc://127.0.0.1:15002")


@pytest.mark.parametrize("env, message", [
    ({"PDM_DEPLOYMENT": "cloud"}, "PDM_DEPLOYMENT must be one of local, connect, databricks"),
    ({"PDM_DEPLOYMENT": "connect"}, "needs SPARK_REMOTE"),
    ({"PDM_START_DATE": "2015-13-01"}, "PDM_START_DATE must be a date YYYY-MM-DD"),
    ({"PDM_START_DATE": "2015-02-01", "PDM_END_DATE": "2015-01-01"}, "must be after PDM_START_DATE"),
    ({"PDM_CADENCE_HOURS": "three"}, "PDM_CADENCE_HOURS must be a whole number"),
    ({"PDM_DECAY_METRIC": "accuracy"}, "decay metric must be one of event_recall, alarm_precision, macro_f1"),
    ({"PDM_DECAY_DAYS": "3", "PDM_DECAY_BELOW": "5"}, r"decay needs 1 <= K <= N, got K=5, N=3 \(PDM_DECAY_METRIC, PDM_DECAY_DAYS = N"),
])
def test_bad_settings_say_which_variable_is_wrong(tmp_path, env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PDM_HOME": str(tmp_path), **env})
