"""The Databricks deployment's settings: runner, compute, libraries, staging, MLflow, and the launcher's configuration.

Two runners, one setting (PDM_DATABRICKS_RUNNER): the step launcher (`step_launcher.py`, staged on
DBFS) and Dagster Pipes (`pipes.py`, staged on a Unity Catalog Volume, no DBFS). Credentials
(DATABRICKS_HOST/DATABRICKS_TOKEN) are only ever read from the environment: their values never
reach config, logs, DBFS or the Volume.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Optional


from pdm_assets.deployments.wheel import (
    WHEEL_BUILD,
    WHEEL_NONE,
    source_digest,
    source_root,
    wheel_name,
)

DEFAULT_NEW_CLUSTER: dict[str, Any] = {
    "spark_version": "17.3.x-scala2.13",  # LTS: Spark 4.0 and Delta 4.0, the pair this project pins
    "nodes": {"node_types": {"node_type_id": "i3.xlarge"}},
    "size": {"num_workers": 1},
}
# Never installed as cluster libraries: the runtime brings its own Spark, and the UI is local only.
NOT_ON_CLUSTER = {"pyspark", "dagster-webserver", "pdm-assets"}
# Settings that are Databricks-side plumbing, not something the remote definitions need to match.
LOCAL_ONLY_ENV = ("PDM_DATABRICKS_WHEEL",)
STEP_LAUNCHER, PIPES = "step_launcher", "pipes"
# The default stays the launcher: deployments that run today keep running unchanged, and Pipes needs a
# Unity Catalog Volume that the user creates first. Workspaces without a DBFS root choose pipes.
RUNNERS = (STEP_LAUNCHER, PIPES)
# Serverless environment 4: Python 3.12 and Databricks Connect 17 (Spark 4.0), the pair DBR 17.3 LTS runs.
DEFAULT_ENVIRONMENT_VERSION = "4"
PIPES_ENTRY_POINT = "pdm-databricks-step"  # [project.scripts] in pyproject.toml: the wheel's task entry point


@dataclass(frozen=True)
class DatabricksSettings:
    """What PDM_DATABRICKS_* decide for PDM_DEPLOYMENT=databricks."""

    cluster_id: Optional[str] = None  # an existing all-purpose cluster; else a new job cluster per step
    new_cluster: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_NEW_CLUSTER))
    # "build" (from this source tree, uploaded), a local .whl (uploaded), a dbfs:/ or Volumes path, or None
    wheel: Optional[str] = WHEEL_BUILD
    staging_prefix: str = "/dagster_staging/pdm_assets"
    catalog: str = "main"
    schema: str = "pdm"
    secrets_to_env_variables: tuple[Mapping[str, str], ...] = ()
    poll_interval_sec: float = 10.0
    max_wait_seconds: int = 4 * 3600
    env_variables: Mapping[str, str] = field(default_factory=dict)  # PDM_* forwarded to the remote side
    runner: str = STEP_LAUNCHER
    volume: Optional[str] = None  # /Volumes/<catalog>/<schema>/<volume>: Pipes' wheel, context and messages
    serverless: bool = False  # Pipes only: serverless jobs compute instead of a cluster
    environment_version: str = DEFAULT_ENVIRONMENT_VERSION

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "DatabricksSettings":
        staging = (environ.get("PDM_DATABRICKS_STAGING_PREFIX") or cls.staging_prefix).strip()
        if not staging.startswith("/"):
            raise ValueError(f"PDM_DATABRICKS_STAGING_PREFIX must be an absolute DBFS path; got '{staging}'")
        secrets = _json(environ, "PDM_DATABRICKS_SECRETS_JSON", [])
        if not isinstance(secrets, list):
            raise ValueError("PDM_DATABRICKS_SECRETS_JSON must be a JSON list of "
                             '{"name": ENV_VAR, "scope": SCOPE, "key": KEY}')
        runner = (environ.get("PDM_DATABRICKS_RUNNER") or STEP_LAUNCHER).strip().lower()
        if runner not in RUNNERS:
            raise ValueError(f"PDM_DATABRICKS_RUNNER must be one of {', '.join(RUNNERS)}; got '{runner}'")
        volume = _volume_setting(environ.get("PDM_DATABRICKS_VOLUME"))
        serverless = (environ.get("PDM_DATABRICKS_SERVERLESS") or "").strip().lower() in ("1", "true", "yes")
        wheel = _wheel_setting(environ.get("PDM_DATABRICKS_WHEEL"))
        if runner == PIPES:
            if volume is None:
                raise ValueError("PDM_DATABRICKS_RUNNER=pipes stages the wheel, the context and the messages on a "
                                 "Unity Catalog Volume: set PDM_DATABRICKS_VOLUME=/Volumes/<catalog>/<schema>/<volume>")
            if wheel is None:
                raise ValueError("PDM_DATABRICKS_RUNNER=pipes runs the project wheel's entry point: "
                                 "PDM_DATABRICKS_WHEEL cannot be none")
            if secrets and (serverless or environ.get("PDM_DATABRICKS_CLUSTER_ID", "").strip()):
                raise ValueError("PDM_DATABRICKS_SECRETS_JSON with PDM_DATABRICKS_RUNNER=pipes works on a new job "
                                 "cluster only (secret references in its spark_env_vars); serverless and existing "
                                 "clusters read secrets in the code instead")
        elif serverless:
            raise ValueError("PDM_DATABRICKS_SERVERLESS needs PDM_DATABRICKS_RUNNER=pipes: "
                             "the step launcher runs on clusters only")
        return cls(
            runner=runner, volume=volume, serverless=serverless,
            environment_version=(environ.get("PDM_DATABRICKS_ENVIRONMENT_VERSION") or DEFAULT_ENVIRONMENT_VERSION).strip(),
            cluster_id=(environ.get("PDM_DATABRICKS_CLUSTER_ID") or "").strip() or None,
            new_cluster=new_cluster_spec(_json(environ, "PDM_DATABRICKS_CLUSTER_JSON", {})),
            wheel=wheel,
            staging_prefix=staging.rstrip("/") or "/",
            catalog=(environ.get("PDM_DATABRICKS_CATALOG") or cls.catalog).strip(),
            schema=(environ.get("PDM_DATABRICKS_SCHEMA") or cls.schema).strip(),
            secrets_to_env_variables=tuple(secrets),
            poll_interval_sec=float(environ.get("PDM_DATABRICKS_POLL_SECONDS") or cls.poll_interval_sec),
            max_wait_seconds=int(environ.get("PDM_DATABRICKS_MAX_WAIT_SECONDS") or cls.max_wait_seconds),
            env_variables={k: v for k, v in environ.items() if k.startswith("PDM_") and k not in LOCAL_ONLY_ENV},
        )

    def uc_name(self, name: str) -> str:
        """A three-level Unity Catalog name; names that already have dots are kept."""
        return name if "." in name else f"{self.catalog}.{self.schema}.{name}"


def _volume_setting(text: Optional[str]) -> Optional[str]:
    value = (text or "").strip().rstrip("/")
    if not value:
        return None
    if not value.startswith("/Volumes/") or len(value.split("/")) < 5:
        raise ValueError(f"PDM_DATABRICKS_VOLUME must be a Unity Catalog Volume path /Volumes/<catalog>/<schema>/<volume>"
                         f"[/folder]; got '{value}'")
    return value


def _wheel_setting(text: Optional[str]) -> Optional[str]:
    value = (text or "").strip() or WHEEL_BUILD
    return None if value.lower() == WHEEL_NONE else value


def _json(environ: Mapping[str, str], name: str, default: Any) -> Any:
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{name} is not valid JSON: {err}") from err


def new_cluster_spec(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The launcher's `cluster.new` block: defaults, then the overrides (flat API keys accepted)."""
    if not isinstance(overrides, Mapping):
        raise ValueError("PDM_DATABRICKS_CLUSTER_JSON must be a JSON object")
    spec = json.loads(json.dumps(DEFAULT_NEW_CLUSTER))
    extra = dict(overrides)
    # The Clusters API spells these flat; the launcher nests them: accept both.
    if "instance_pool_id" in extra:
        spec["nodes"] = {"instance_pool": {"instance_pool_id": extra.pop("instance_pool_id")}}
        if "driver_instance_pool_id" in extra:
            spec["nodes"]["instance_pool"]["driver_instance_pool_id"] = extra.pop("driver_instance_pool_id")
    if "node_type_id" in extra:
        spec["nodes"] = {"node_types": {"node_type_id": extra.pop("node_type_id")}}
        if "driver_node_type_id" in extra:
            spec["nodes"]["node_types"]["driver_node_type_id"] = extra.pop("driver_node_type_id")
    if "num_workers" in extra:
        spec["size"] = {"num_workers": int(extra.pop("num_workers"))}
    if "autoscale" in extra:
        spec["size"] = {"autoscale": extra.pop("autoscale")}
    spec.update(extra)
    return spec


def cluster_libraries(wheel_uri: Optional[str]) -> list[dict[str, Any]]:
    """The project's pinned runtime dependencies as PyPI libraries, plus the project wheel if given."""
    libraries: list[dict[str, Any]] = []
    try:
        requirements = metadata.requires("pdm_assets") or []
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        requirements = []
    for requirement in requirements:
        if ";" in requirement:  # extras (test) and environment markers do not belong on a cluster
            continue
        spec = re.sub(r"\[[^\]]*\]", "", requirement.replace(" ", ""))
        name = re.split(r"[<>=!~]", spec, maxsplit=1)[0].lower().replace("_", "-")
        if name in NOT_ON_CLUSTER:
            continue
        try:  # the versions resolved and tested here, so the cluster matches this environment
            spec = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            pass
        libraries.append({"pypi": {"package": spec}})
    if wheel_uri:
        libraries.append({"whl": wheel_uri})
    return libraries


def wheel_uri(settings: DatabricksSettings) -> Optional[str]:
    """Where the cluster installs the project wheel from (a local or built wheel is uploaded: DBFS staging, or the Volume).

    A built wheel's folder is the digest of the sources, so changed code never reuses the path of a
    wheel an existing cluster has already installed. Without a source tree (on the cluster itself,
    which only rebuilds the definitions) there is nothing to build: no wheel.
    """
    if not settings.wheel:
        return None
    folder = f"{settings.volume}/wheels" if settings.runner == PIPES else f"dbfs:{settings.staging_prefix}/wheels"
    if settings.wheel == WHEEL_BUILD:
        root = source_root()
        if root is None:
            return None
        return f"{folder}/{source_digest(root)}/{wheel_name(root)}"
    if settings.wheel.startswith(("dbfs:", "/Volumes/", "/Workspace/", "s3:", "abfss:", "gs:")):
        return settings.wheel
    return f"{folder}/{Path(settings.wheel).name}"


def job_cluster_spec(settings: DatabricksSettings) -> dict[str, Any]:
    """The Jobs API's flat `new_cluster` (the launcher's config nests nodes and size; the API does not)."""
    spec = json.loads(json.dumps(settings.new_cluster))
    nodes, size = spec.pop("nodes", {}), spec.pop("size", {})
    spec.update(nodes.get("node_types") or nodes.get("instance_pool") or {})
    spec.update(size)
    if settings.secrets_to_env_variables:  # resolved by Databricks when the cluster starts, never sent as values
        spec["spark_env_vars"] = {**spec.get("spark_env_vars", {}), **{
            s["name"]: "{{secrets/%s/%s}}" % (s["scope"], s["key"]) for s in settings.secrets_to_env_variables}}
    return spec


def launcher_config(settings: DatabricksSettings) -> dict[str, Any]:
    """The step launcher's configuration (no secret values in it: credentials are env references)."""
    cluster = {"existing": settings.cluster_id} if settings.cluster_id else {"new": dict(settings.new_cluster)}
    return {
        "run_config": {
            "run_name": "pdm_assets step",
            "cluster": cluster,
            "libraries": cluster_libraries(wheel_uri(settings)),
        },
        "databricks_host": {"env": "DATABRICKS_HOST"},
        "databricks_token": {"env": "DATABRICKS_TOKEN"},
        "env_variables": dict(settings.env_variables),
        "secrets_to_env_variables": [dict(s) for s in settings.secrets_to_env_variables],
        "staging_prefix": settings.staging_prefix,
        "poll_interval_sec": settings.poll_interval_sec,
        "max_completion_wait_time_seconds": settings.max_wait_seconds,
    }


def mlflow_settings(settings: DatabricksSettings, tracking_uri: str, registry_uri: str,
                    model_name: str) -> tuple[str, str, str]:
    """(tracking, registry, model name): Databricks tracking and Unity Catalog registry unless overridden."""
    tracking = tracking_uri or "databricks"
    registry = registry_uri or ("databricks-uc" if tracking == "databricks" else "")
    name = settings.uc_name(model_name) if registry == "databricks-uc" else model_name
    return tracking, registry, name
