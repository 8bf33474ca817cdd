"""The real dagster-webserver on workspace.yaml: assets, partitions, checks, schedules and sensors over GraphQL."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from pdm_assets.tools.screenshots import TELEMETRY_OFF, Webserver, graphql, running_webserver

pytestmark = pytest.mark.slow  # starts processes of its own

ASSET_GROUPS = {
    "raw_machines": "raw", "raw_maint_history": "raw", "raw_telemetry": "raw", "raw_errors": "raw",
    "raw_maint": "raw", "raw_failures": "raw",
    "machine_features": "features", "failure_labels": "features",
    "training_set": "training", "failure_model": "training",
    "failure_predictions": "scoring", "maintenance_alerts": "scoring", "prediction_outcomes": "scoring",
}
SCHEDULES = {"daily_scoring_schedule", "weekly_retraining_schedule"}
SENSORS = {"champion_sensor", "stale_predictions_sensor", "retraining_sensor", "landing_zone_sensor"}

ASSET_NODES = """
query AssetNodes {
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    partitionDefinition { type description }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
    }
  }
}
"""

PARTITION_KEYS = """
query PartitionKeys($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode { partitionKeys }
  }
}
"""

REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } } }
    ... on PythonError { message }
  }
}
"""

SCHEDULES_AND_SENSORS = """
query Instigators($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules {
      results { name cronSchedule executionTimezone pipelineName defaultStatus scheduleState { status } }
    }
    ... on PythonError { message }
  }
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors { results { name defaultStatus sensorState { status } } }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Webserver]:
    """One webserver for the module: temp DAGSTER_HOME (telemetry off), temp PDM_HOME, default timeline."""
    root = tmp_path_factory.mktemp("webserver")
    dagster_home, pdm_home = root / "dagster", root / "pdm_home"
    dagster_home.mkdir()
    pdm_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(TELEMETRY_OFF)
    # Nothing from the calling shell may move the timeline or the deployment.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PDM_", "DAGSTER_")) and k != "SPARK_REMOTE"}
    with running_webserver(dagster_home, pdm_home, environ=environ, timeout=180) as running:
        yield running
        assert not _java_in_group(running.pgid), "the webserver or its code server started a JVM (Spark)"


def _java_in_group(pgid: int) -> list[int]:
    """Ids of java processes in the process group (the webserver and its code server)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if comm == "java" and int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


def test_assets_groups_partitions_and_checks(server: Webserver):
    nodes = {tuple(n["assetKey"]["path"]): n for n in graphql(server.url, ASSET_NODES)["assetNodes"]}
    assert {path[-1]: n["groupName"] for path, n in nodes.items()} == ASSET_GROUPS

    predictions = nodes[("failure_predictions",)]
    assert predictions["isPartitioned"] and predictions["partitionDefinition"]["type"] == "TIME_WINDOW"
    assert not nodes[("failure_model",)]["isPartitioned"]
    keys = graphql(server.url, PARTITION_KEYS, {"path": ["failure_predictions"]})["assetNodeOrError"]["partitionKeys"]
    assert (len(keys), keys[0], keys[-1]) == (365, "2015-01-01", "2015-12-31")

    checks = {}
    for path, node in nodes.items():
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", path
        checks[path[-1]] = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
    assert checks["failure_model"]["quality_gate"] is True
    assert checks["failure_predictions"]["feature_drift"] is False  # warns, does not block
    assert checks["raw_telemetry"]["schema_matches_contract"] is True
    assert "telemetry_complete" in checks["raw_telemetry"]
    assert "labels_final" in checks["failure_labels"]
    assert checks["training_set"] == {}


def test_schedules_and_sensors_are_stopped_by_default(server: Webserver):
    repositories = graphql(server.url, REPOSITORIES)["repositoriesOrError"]
    assert repositories["__typename"] == "RepositoryConnection", repositories
    [repository] = repositories["nodes"]
    assert repository["location"]["name"] == "pdm_assets"
    selector = {"repositoryLocationName": "pdm_assets", "repositoryName": repository["name"]}

    data = graphql(server.url, SCHEDULES_AND_SENSORS, {"selector": selector})
    assert data["schedulesOrError"]["__typename"] == "Schedules", data["schedulesOrError"]
    assert data["sensorsOrError"]["__typename"] == "Sensors", data["sensorsOrError"]
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    sensors = {s["name"]: s for s in data["sensorsOrError"]["results"]}
    assert set(schedules) == SCHEDULES
    assert set(sensors) == SENSORS
    for name, schedule in schedules.items():
        assert (schedule["defaultStatus"], schedule["scheduleState"]["status"]) == ("STOPPED", "STOPPED"), name
    for name, sensor in sensors.items():
        assert (sensor["defaultStatus"], sensor["sensorState"]["status"]) == ("STOPPED", "STOPPED"), name
    assert schedules["daily_scoring_schedule"]["pipelineName"] == "ingest_and_score_job"
    assert schedules["weekly_retraining_schedule"]["pipelineName"] == "training_job"
