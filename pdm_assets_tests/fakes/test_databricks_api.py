"""The Databricks emulator, driven through the real databricks-sdk client (and, once, the step launcher)."""
# No `from __future__ import annotations` here: Dagster rejects a string annotation on an op's `context`.
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dagster import DagsterInstance, FilesystemIOManager, OpExecutionContext, execute_job, job, op, reconstructable
from dagster_databricks import databricks_pyspark_step_launcher
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState, SubmitTask

from pdm_assets_tests.fakes import DatabricksEmulator

TOKEN = "t0k"
FAKES_DIR = Path(__file__).resolve().parent


@pytest.fixture
def api(tmp_path: Path) -> Iterator[DatabricksEmulator]:
    """A running emulator with one secret and one emulator-wide env var."""
    with DatabricksEmulator(root=tmp_path / "workspace", token=TOKEN, secrets={"pdm": {"api-key": "s3cret"}},
                            extra_env={"EMULATOR_EXTRA": "from-emulator"}) as emulator:
        yield emulator


@pytest.fixture
def client(api: DatabricksEmulator) -> WorkspaceClient:
    """The real SDK client, pointed at the emulator."""
    return WorkspaceClient(host=api.host, token=TOKEN)


def _submit(client: WorkspaceClient, script: str, *, parameters: list[str] | None = None,
            env: dict[str, str] | None = None, timeout_seconds: int | None = None) -> int:
    """Upload `script` to DBFS and submit it as a one-task run on a new job cluster."""
    client.dbfs.upload("/scripts/task.py", io.BytesIO(script.encode()), overwrite=True)
    task = SubmitTask.from_dict({
        "task_key": "main",
        "spark_python_task": {"python_file": "dbfs:/scripts/task.py", "parameters": parameters or []},
        "new_cluster": {"spark_version": "17.3.x-scala2.13", "node_type_id": "i3.xlarge", "num_workers": 1,
                        "spark_env_vars": env or {}},
        "libraries": [{"pypi": {"package": "dagster==1.13.27"}}],
    })
    return client.jobs.submit(run_name="emulated", tasks=[task], timeout_seconds=timeout_seconds).bind()["run_id"]


def _watch(client: WorkspaceClient, run_id: int, timeout: float = 60) -> tuple[list[tuple[str, str | None]], Any]:
    """Poll runs/get until TERMINATED/INTERNAL_ERROR; return the distinct (life cycle, result) seen and the run."""
    seen: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.jobs.get_run(run_id)
        state = (run.state.life_cycle_state.value, run.state.result_state and run.state.result_state.value)
        if not seen or seen[-1] != state:
            seen.append(state)
        if run.state.life_cycle_state in (RunLifeCycleState.TERMINATED, RunLifeCycleState.INTERNAL_ERROR):
            return seen, run
        time.sleep(0.02)
    raise TimeoutError(f"run {run_id} did not finish: {seen}")


# ---- DBFS ---------------------------------------------------------------------------------------
def test_dbfs_round_trip_maps_to_the_root_folder(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    payload = os.urandom(2 * 1024 * 1024 + 123)  # > 1 MB: the SDK streams it in several add-block calls
    client.dbfs.upload("dbfs:/data/raw/blob.bin", io.BytesIO(payload))
    client.dbfs.mkdirs("/data/empty")

    assert api.dbfs_path("dbfs:/data/raw/blob.bin").read_bytes() == payload
    assert client.dbfs.download("/data/raw/blob.bin").read() == payload
    assert client.dbfs.get_status("/data/raw/blob.bin").file_size == len(payload)
    assert {(f.path, f.is_dir) for f in client.dbfs.list("/data")} == {("/data/raw", True), ("/data/empty", True)}
    assert [f.path for f in client.dbfs.list("/", recursive=True)] == ["/data/raw/blob.bin"]
    assert list(client.dbfs.list("/data/empty")) == []
    assert ("POST", "/api/2.0/dbfs/add-block") in api.requests

    client.dbfs.move("/data/raw/blob.bin", "/data/moved.bin")
    client.dbfs.delete("/data", recursive=True)
    assert not api.dbfs_path("/data").exists()
    client.dbfs.delete("/data/never-there")  # deleting a missing path is a no-op, as on Databricks


def test_dbfs_put_read_and_error_codes(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    client.dbfs.put("/small.txt", contents="aGVsbG8=")  # base64 "hello"
    assert client.dbfs.read("/small.txt", offset=1, length=3).data == "ZWxs"  # "ell"
    assert client.dbfs.read("/small.txt", offset=10).bytes_read == 0

    with pytest.raises(ResourceDoesNotExist):
        client.dbfs.read("/missing.txt")
    with pytest.raises(ResourceDoesNotExist):
        client.dbfs.get_status("/missing.txt")
    with pytest.raises(ResourceAlreadyExists):
        client.dbfs.create("/small.txt", overwrite=False)
    with pytest.raises(InvalidParameterValue, match="absolute"):
        client.dbfs.get_status("relative/path")

    raw = _raw(api, "GET", "/api/2.0/dbfs/read", params={"path": "/small.txt", "length": 2 * 1024 * 1024})
    assert (raw.status_code, raw.json()["error_code"]) == (400, "MAX_READ_SIZE_EXCEEDED")
    client.dbfs.put("/dir/inner.txt", contents="eA==")
    raw = _raw(api, "POST", "/api/2.0/dbfs/delete", json={"path": "/dir"})
    assert (raw.status_code, raw.json()["error_code"]) == (400, "IO_ERROR")
    raw = _raw(api, "GET", "/api/2.0/nothing/here")
    assert (raw.status_code, raw.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")


def test_dbfs_put_accepts_a_multipart_form(api: DatabricksEmulator) -> None:
    answer = _raw(api, "POST", "/api/2.0/dbfs/put", data={"path": "/form.bin", "overwrite": "true"},
                  files={"contents": ("form.bin", b"\x00\x01binary")})
    assert answer.status_code == 200
    assert api.dbfs_path("/form.bin").read_bytes() == b"\x00\x01binary"


def test_wrong_or_missing_token_is_unauthenticated(api: DatabricksEmulator) -> None:
    with pytest.raises(Unauthenticated, match="Invalid access token"):
        WorkspaceClient(host=api.host, token="wrong").dbfs.get_status("/")
    answer = requests.get(f"{api.host}/api/2.0/dbfs/get-status", params={"path": "/"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json() == {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
    assert api.requests == []  # refused calls are not served, hence not recorded


# ---- job runs -----------------------------------------------------------------------------------
SUCCEEDING_TASK = """
import os, sys, time
assert "pyspark" not in sys.modules  # sc/spark are lazy: a task that never touches them starts no JVM
dbutils.fs.mkdirs("dbfs:/out")
dbutils.fs.put("/out/params.txt", " ".join(sys.argv[1:]))
with open("/dbfs/out/env.txt", "w") as handle:  # the driver's /dbfs FUSE view of the same files
    handle.write("|".join(os.environ.get(k, "-") for k in ("CLUSTER_VAR", "EMULATOR_EXTRA", "PDM_LAPTOP_ONLY")))
assert os.path.exists("/dbfs/out/params.txt") and dbutils.fs.head("/out/params.txt") == " ".join(sys.argv[1:])
assert [f.name for f in dbutils.fs.ls("/out")] == ["env.txt", "params.txt"]
assert dbutils.secrets.get(scope="pdm", key="api-key") == "s3cret"
time.sleep(0.3)  # long enough for the test's poller to see RUNNING even on a busy machine
print("task done")
"""


def test_python_task_runs_to_success(api: DatabricksEmulator, client: WorkspaceClient,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDM_LAPTOP_ONLY", "leak")  # must not reach the 'cluster'
    run_id = _submit(client, SUCCEEDING_TASK, parameters=["--day", "2015-01-02"], env={"CLUSTER_VAR": "on-cluster"})

    seen, run = _watch(client, run_id)

    assert seen == [("PENDING", None), ("RUNNING", None), ("TERMINATING", "SUCCESS"), ("TERMINATED", "SUCCESS")]
    assert api.dbfs_path("/out/params.txt").read_text() == "--day 2015-01-02"
    assert api.dbfs_path("/out/env.txt").read_text() == "on-cluster|from-emulator|-"
    assert run.run_page_url.startswith(api.host) and run.tasks[0].cluster_instance.cluster_id
    assert client.jobs.get_run_output(run.tasks[0].run_id).logs.strip() == "task done"
    assert api.submitted_runs[0]["tasks"][0]["libraries"] == [{"pypi": {"package": "dagster==1.13.27"}}]
    cluster = client.clusters.get(run.tasks[0].cluster_instance.cluster_id)
    assert cluster.spark_env_vars == {"CLUSTER_VAR": "on-cluster"}


def test_python_task_that_raises_fails_with_its_error(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    run_id = _submit(client, "def step():\n    raise ValueError('bad partition 2015-01-02')\nstep()\n")

    _, run = _watch(client, run_id)

    assert run.state.result_state == RunResultState.FAILED
    assert "ValueError: bad partition 2015-01-02" in run.state.state_message
    output = client.jobs.get_run_output(run.tasks[0].run_id)
    assert output.error == "ValueError: bad partition 2015-01-02"
    assert "Traceback" in output.error_trace and "in step" in output.error_trace
    with pytest.raises(InvalidParameterValue, match="multiple tasks"):
        client.jobs.get_run_output(run_id)  # as on Databricks: ask the task run, not the parent


def test_cancel_kills_a_sleeping_task(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    run_id = _submit(client, "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    while client.jobs.get_run(run_id).state.life_cycle_state != RunLifeCycleState.RUNNING:
        time.sleep(0.02)
    started = time.monotonic()

    client.jobs.cancel_run(run_id)
    _, run = _watch(client, run_id, timeout=20)

    assert run.state.result_state == RunResultState.CANCELED
    assert time.monotonic() - started < 10
    assert api.jobs.runs[run_id].process.poll() is not None


def test_timeout_and_a_missing_python_file(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    timed_out = _submit(client, "import time\ntime.sleep(60)\n", timeout_seconds=1)
    assert _watch(client, timed_out)[1].state.result_state == RunResultState.TIMEDOUT

    task = SubmitTask.from_dict({"task_key": "main", "existing_cluster_id": "0101-000000-abc",
                                 "spark_python_task": {"python_file": "dbfs:/no/such.py"}})
    _, run = _watch(client, client.jobs.submit(tasks=[task]).bind()["run_id"])
    assert (run.state.life_cycle_state, run.state.result_state) == (RunLifeCycleState.INTERNAL_ERROR,
                                                                    RunResultState.FAILED)
    assert "dbfs:/no/such.py does not exist" in run.state.state_message
    with pytest.raises(ResourceDoesNotExist):
        client.jobs.get_run(424242)
    with pytest.raises(InvalidParameterValue, match="existing_cluster_id"):
        client.jobs.submit(tasks=[SubmitTask.from_dict({"task_key": "x", "spark_python_task": {"python_file": "a"}})])


def test_older_jobs_api_versions_and_idempotency(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    client.dbfs.upload("/scripts/ok.py", io.BytesIO(b"print('ok')"))
    body_20 = {"run_name": "2.0 form", "existing_cluster_id": "0101-000000-abc", "idempotency_token": "day-1",
               "spark_python_task": {"python_file": "dbfs:/scripts/ok.py"}}

    first = _raw(api, "POST", "/api/2.0/jobs/runs/submit", json=body_20).json()["run_id"]
    again = _raw(api, "POST", "/api/2.1/jobs/runs/submit", json=body_20).json()["run_id"]

    assert first == again and len(api.submitted_runs) == 1
    assert api.wait_for_run(first)["state"]["result_state"] == "SUCCESS"
    assert _raw(api, "GET", "/api/2.1/jobs/runs/get", params={"run_id": first}).json()["tasks"][0]["task_key"] == "run"


def _raw(api: DatabricksEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A request outside the SDK, to look at status codes and error bodies directly."""
    return requests.request(method, api.host + path, headers={"Authorization": f"Bearer {api.token}"},
                            timeout=10, **kwargs)


# ---- the real databricks_pyspark_step_launcher, end to end --------------------------------------
@op(required_resource_keys={"step_launcher"})
def remote_step(context: OpExecutionContext) -> dict[str, str]:
    """Runs on the emulated cluster: proves where it ran and what it could see."""
    os.makedirs("/dbfs/e2e", exist_ok=True)  # the driver's /dbfs FUSE mount
    with open("/dbfs/e2e/remote_marker.txt", "w") as handle:
        handle.write(context.run_id)
    return {name: os.environ.get(name, "-") for name in ("DB_IS_DRIVER", "PDM_FROM_CLUSTER", "PDM_FROM_LAUNCHER")}


@op
def local_step(seen: dict[str, str]) -> dict[str, str]:
    """Runs in the test process on the output the remote step stored through the shared IO manager."""
    return {**seen, "local_driver": os.environ.get("DB_IS_DRIVER", "-")}


@job(resource_defs={"step_launcher": databricks_pyspark_step_launcher, "io_manager": FilesystemIOManager()})
def emulated_databricks_job() -> None:
    local_step(remote_step())


def launcher_run_config(io_dir: Path) -> dict[str, Any]:
    """The step launcher configuration that works against the emulator (reported to the project)."""
    launcher = {
        "run_config": {
            "run_name": "pdm-emulated-step",
            "cluster": {"new": {
                "spark_version": "17.3.x-scala2.13",
                "nodes": {"node_types": {"node_type_id": "i3.xlarge"}},
                "size": {"num_workers": 1},
                "spark_env_vars": {"PDM_FROM_CLUSTER": "cluster-env"},
            }},
        },
        # Credentials only from the environment; the emulated cluster provides its own pair, so the
        # launcher resource (re-initialised on the remote side) resolves them there too.
        "databricks_host": {"env": "DATABRICKS_HOST"},
        "databricks_token": {"env": "DATABRICKS_TOKEN"},
        # Zipped and shipped to dbfs; keep it small (dagster_pyspark's zip does not skip `.venv`).
        "local_dagster_job_package_path": str(FAKES_DIR),
        "staging_prefix": "/dagster_staging",
        "secrets_to_env_variables": [],
        "env_variables": {"PDM_FROM_LAUNCHER": "launcher-env"},
        "poll_interval_sec": 0.5,
        "max_completion_wait_time_seconds": 300,
    }
    return {"resources": {"step_launcher": {"config": launcher}, "io_manager": {"config": {"base_dir": str(io_dir)}}},
            "execution": {"config": {"in_process": {}}}}


@pytest.mark.filterwarnings("ignore:.*superseded")  # StepLauncher itself is "superseded" by Pipes
def test_step_launcher_runs_a_step_on_the_emulator(api: DatabricksEmulator, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in api.env().items():
        monkeypatch.setenv(name, value)

    with DagsterInstance.ephemeral() as instance:
        with execute_job(reconstructable(emulated_databricks_job), instance=instance,
                         run_config=launcher_run_config(tmp_path / "io")) as result:
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            assert result.output_for_node("local_step") == {
                "DB_IS_DRIVER": "TRUE", "PDM_FROM_CLUSTER": "cluster-env", "PDM_FROM_LAUNCHER": "launcher-env",
                "local_driver": "-"}
    assert api.dbfs_path("/e2e/remote_marker.txt").read_text() == result.run_id
    staged = api.dbfs_path(f"/dagster_staging/{result.run_id}/remote_step")
    expected = {"databricks_step_main.py", "code.zip", "step_run_ref.pkl", "config.pkl", "0_events.pkl"}
    assert expected <= {p.name for p in staged.iterdir()}
    [submitted] = api.submitted_runs
    assert {("POST", "/api/2.2/jobs/runs/submit"), ("GET", "/api/2.2/jobs/runs/get"),
            ("GET", "/api/2.0/dbfs/read")} <= set(api.requests)
    assert {lib["pypi"]["package"].split("==")[0] for lib in submitted["tasks"][0]["libraries"]} >= {
        "dagster", "dagster-databricks", "dagster-pyspark", "databricks-sdk"}
