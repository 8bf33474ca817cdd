"""The Databricks emulator, driven through the real databricks-sdk client (and, once, the step launcher)."""
# No `from __future__ import annotations` here: Dagster rejects a string annotation on an op's `context`.
import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    FilesystemIOManager,
    OpExecutionContext,
    asset,
    execute_job,
    job,
    materialize,
    op,
    reconstructable,
)
from dagster_databricks import databricks_pyspark_step_launcher
from dagster_databricks.pipes import (
    PipesDatabricksServerlessClient,
    PipesUnityCatalogVolumesContextInjector,
    PipesUnityCatalogVolumesMessageReader,
    delete_volume_directory_recursive,
    volumes_tempdir,
)
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import (
    AlreadyExists,
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service import files
from databricks.sdk.service.jobs import JobEnvironment, RunLifeCycleState, RunResultState, SubmitTask

from pdm_assets_tests.fakes import DatabricksEmulator

TOKEN = "t0k"
FAKES_DIR = Path(__file__).resolve().parent
VOLUME = "/Volumes/main/pdm/staging"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[DatabricksEmulator]:
    """A running emulator with one secret, one emulator-wide env var and one Unity Catalog volume."""
    with DatabricksEmulator(root=tmp_path / "workspace", token=TOKEN, secrets={"pdm": {"api-key": "s3cret"}},
                            extra_env={"EMULATOR_EXTRA": "from-emulator"}, volumes=["main.pdm.staging"]) as emulator:
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
    assert api.request_bodies == [b"", b""]  # but their bodies are, for tests that look for leaked secrets


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


# ---- Unity Catalog volumes: the Files API ---------------------------------------------------------
def test_files_api_round_trip_in_a_volume(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    path = f"{VOLUME}/in dir/ü %20.bin"  # the SDK percent-encodes paths; the emulator decodes them
    payload = os.urandom(300 * 1024)
    client.files.upload(path, io.BytesIO(payload), overwrite=False)  # creates the missing parent directory

    assert api.volume_path(path).read_bytes() == payload
    assert api.volume_path(path) == api.root / "Volumes/main/pdm/staging/in dir/ü %20.bin"
    download = client.files.download(path)
    assert (download.contents.read(), download.content_length, download.content_type) == (
        payload, len(payload), "application/octet-stream")
    metadata = client.files.get_metadata(path)
    assert metadata.content_length == len(payload) and metadata.last_modified.endswith(" GMT")
    with pytest.raises(AlreadyExists, match="already exists"):
        client.files.upload(path, io.BytesIO(b"other"), overwrite=False)
    client.files.upload(path, io.BytesIO(b"other"))  # overwrite unspecified: true
    assert api.volume_path(path).read_bytes() == b"other"

    client.files.create_directory(f"{VOLUME}/a/b/c")
    client.files.create_directory(f"{VOLUME}/a/b/c")  # idempotent
    client.files.get_directory_metadata(f"{VOLUME}/a/b")
    entries = {e.name: e for e in client.files.list_directory_contents(VOLUME)}
    assert sorted(entries) == ["a", "in dir"] and entries["a"].is_directory
    [entry] = client.files.list_directory_contents(f"{VOLUME}/in dir")
    assert (entry.path, entry.is_directory, entry.file_size) == (path, False, 5)
    assert [e.name for e in client.files.list_directory_contents(VOLUME, page_size=1)] == ["a", "in dir"]

    with pytest.raises(BadRequest, match="not empty"):
        client.files.delete_directory(f"{VOLUME}/a/b")
    client.files.delete_directory(f"{VOLUME}/a/b/c")
    client.files.delete(path)
    with pytest.raises(NotFound, match="file being accessed is not found"):
        client.files.delete(path)
    with pytest.raises(NotFound):
        client.files.get_metadata(path)  # HEAD: no body, the status says it
    with pytest.raises(NotFound, match="directory being accessed is not found"):
        list(client.files.list_directory_contents(f"{VOLUME}/a/b/c"))
    assert ("PUT", "/api/2.0/fs/files/Volumes/main/pdm/staging/in%20dir/%C3%BC%20%2520.bin") in api.requests
    assert payload in api.request_bodies


def test_files_api_needs_an_existing_volume(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    with pytest.raises(NotFound, match="Volume 'main.pdm.landing' does not exist"):
        client.files.upload("/Volumes/main/pdm/landing/x.txt", io.BytesIO(b"x"))
    with pytest.raises(NotFound, match="main.pdm.landing"):
        client.files.create_directory("/Volumes/main/pdm/landing/tmp")
    assert not api.volume_path("/Volumes/main/pdm/landing").exists()
    with pytest.raises(InvalidParameterValue, match="volume paths only"):
        client.files.upload("/Workspace/x.txt", io.BytesIO(b"x"))
    streamed = _raw(api, "PUT", f"/api/2.0/fs/files{VOLUME}/chunked.bin", data=iter([b"ab", b"cd"]))
    assert streamed.status_code == 204 and api.volume_path(f"{VOLUME}/chunked.bin").read_bytes() == b"abcd"

    api.create_volume("main.pdm.landing")
    client.files.upload("/Volumes/main/pdm/landing/x.txt", io.BytesIO(b"x"))
    with pytest.raises(InvalidParameterValue, match="root directory of a volume"):
        client.files.delete_directory("/Volumes/main/pdm/landing")
    # The SDK's experimental FilesExt downloads the same way and switches to multipart uploads at 5 MB.
    ext = WorkspaceClient(config=Config(host=api.host, token=TOKEN, enable_experimental_files_api_client=True))
    assert ext.files.download("/Volumes/main/pdm/landing/x.txt").contents.read() == b"x"
    with pytest.raises(InvalidParameterValue, match="one-shot uploads only"):
        ext.files.upload(f"{VOLUME}/big.bin", io.BytesIO(bytes(5 * 1024 * 1024)))


def test_dagster_pipes_volume_helpers(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    files_api = files.FilesAPI(client.api_client)  # what dagster-databricks builds from the client
    with volumes_tempdir(files_api, VOLUME) as tempdir:
        assert api.volume_path(tempdir).is_dir() and tempdir.startswith(f"{VOLUME}/tmp/")
        files_api.upload(f"{tempdir}/deep/er/0.json", io.BytesIO(b"{}"))
        files_api.upload(f"{tempdir}/1.json", io.BytesIO(b"{}"))
    assert not api.volume_path(tempdir).exists() and api.volume_path(f"{VOLUME}/tmp").is_dir()

    injector = PipesUnityCatalogVolumesContextInjector(client=client, volume_path=VOLUME)
    with injector.inject_context({"run_id": "r1"}) as params:  # type: ignore[arg-type]
        assert json.loads(api.volume_path(params["path"]).read_text()) == {"run_id": "r1"}
    assert not api.volume_path(params["path"]).exists()

    reader = PipesUnityCatalogVolumesMessageReader(client=client, volume_path=VOLUME)
    with reader.get_params() as params:
        assert reader.messages_are_readable(params)
        assert reader.download_messages_chunk(0, params) is None  # not written yet: a NotFound, swallowed
        api.volume_path(f"{params['path']}/0.json").write_text('{"method": "closed"}\n')  # as the driver's FUSE
        assert reader.download_messages_chunk(0, params) == '{"method": "closed"}\n'
    delete_volume_directory_recursive(files_api, f"{VOLUME}/tmp")
    assert not api.volume_path(f"{VOLUME}/tmp").exists()


# ---- python_wheel_task, on a cluster and on serverless --------------------------------------------
PROBE_MODULE = """
import json, os, sys

def main():
    out = sys.argv[sys.argv.index("--out") + 1]
    os.makedirs(os.path.dirname(out), exist_ok=True)  # the driver's /Volumes FUSE view
    with open(out, "w") as handle:
        json.dump({"argv": sys.argv, "file": __file__, "cluster": os.environ.get("DB_CLUSTER_ID"),
                   "hidden_while_open": not os.path.exists(out),  # object storage: whole files, on close
                   "dbutils": [f.name for f in dbutils.fs.ls(os.path.dirname(os.path.dirname(out)))],  # a builtin
                   "pyspark": "pyspark" in sys.modules}, handle)
"""


def _wheel(package: str, version: str, modules: dict[str, str], console_scripts: dict[str, str]) -> bytes:
    """A minimal pure-Python wheel: the package's modules, METADATA, WHEEL, entry_points.txt and RECORD."""
    dist_info = f"{package}-{version}.dist-info"
    members = {f"{package}/{name}.py": source for name, source in modules.items()}
    members[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
    members[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members[f"{dist_info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
        f"{name} = {target}\n" for name, target in console_scripts.items())
    members[f"{dist_info}/RECORD"] = "".join(f"{name},,\n" for name in [*members, f"{dist_info}/RECORD"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_python_wheel_task_runs_the_wheel_from_a_volume(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    # Named like the project, which is installed editable here: the run must import the wheel's copy.
    wheel = _wheel("pdm_assets", "0.0.1", {"__init__": "", "probe": PROBE_MODULE}, {"pdm-probe": "pdm_assets.probe:main"})
    client.files.upload(f"{VOLUME}/wheels/pdm_assets-0.0.1-py3-none-any.whl", io.BytesIO(wheel))
    task = SubmitTask.from_dict({
        "task_key": "wheel", "existing_cluster_id": "0101-000000-abc",
        "python_wheel_task": {"package_name": "pdm_assets", "entry_point": "pdm-probe",
                              "parameters": ["--out", f"{VOLUME}/out/probe.json"]},
        "libraries": [{"whl": f"{VOLUME}/wheels/pdm_assets-0.0.1-py3-none-any.whl"}, {"pypi": {"package": "x"}}]})

    _, run = _watch(client, client.jobs.submit(tasks=[task]).bind()["run_id"])

    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    seen = json.loads(client.files.download(f"{VOLUME}/out/probe.json").contents.read())
    assert seen["argv"] == ["pdm-probe", "--out", f"{VOLUME}/out/probe.json"]
    assert Path(seen["file"]).is_relative_to(api.root / ".databricks_emulator/runs")  # the extracted wheel
    assert seen["cluster"] == "0101-000000-abc" and seen["dbutils"] == ["out/", "wheels/"]
    assert seen["hidden_while_open"] and not seen["pyspark"]
    assert run.tasks[0].cluster_instance.cluster_id == "0101-000000-abc"


def test_python_wheel_task_on_serverless(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    wheel = _wheel("probe_pkg", "0.1", {"__init__": PROBE_MODULE}, {})  # no console script: the function
    client.files.upload(f"{VOLUME}/wheels/probe_pkg-0.1-py3-none-any.whl", io.BytesIO(wheel))
    task = SubmitTask.from_dict({
        "task_key": "wheel", "environment_key": "default",
        "python_wheel_task": {"package_name": "probe_pkg", "entry_point": "main",
                              "parameters": ["--out", f"{VOLUME}/out/serverless.json"]}})
    environment = JobEnvironment.from_dict({"environment_key": "default", "spec": {
        "environment_version": "3", "dependencies": ["dagster-pipes==1.13.27",
                                                     f"{VOLUME}/wheels/probe_pkg-0.1-py3-none-any.whl"]}})

    _, run = _watch(client, client.jobs.submit(tasks=[task], environments=[environment]).bind()["run_id"])

    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    seen = json.loads(api.volume_path(f"{VOLUME}/out/serverless.json").read_text())
    assert seen["argv"] == ["main", "--out", f"{VOLUME}/out/serverless.json"] and seen["cluster"] is None
    assert Path(seen["file"]).is_relative_to(api.root)
    assert run.tasks[0].cluster_instance is None and run.tasks[0].environment_key == "default"
    assert api.submitted_runs[0]["environments"][0]["spec"]["dependencies"][0] == "dagster-pipes==1.13.27"

    with pytest.raises(InvalidParameterValue, match="environment_key 'other'"):
        client.jobs.submit(tasks=[SubmitTask.from_dict({**task.as_dict(), "environment_key": "other"})],
                           environments=[environment])
    with pytest.raises(InvalidParameterValue, match="Libraries field is not supported for serverless"):
        client.jobs.submit(tasks=[SubmitTask.from_dict({**task.as_dict(), "libraries": [{"whl": "/x.whl"}]})],
                           environments=[environment])


def test_spark_python_task_from_a_volume_on_serverless(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    client.files.upload(f"{VOLUME}/scripts/task.py", io.BytesIO(b"import sys\nopen(sys.argv[1], 'w').write('ok')\n"))
    task = SubmitTask.from_dict({"task_key": "py", "environment_key": "e", "spark_python_task": {
        "python_file": f"{VOLUME}/scripts/task.py", "parameters": [f"{VOLUME}/ok.txt"]}})
    environment = JobEnvironment.from_dict({"environment_key": "e", "spec": {"client": "2"}})

    _, run = _watch(client, client.jobs.submit(tasks=[task], environments=[environment]).bind()["run_id"])

    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    assert api.volume_path(f"{VOLUME}/ok.txt").read_text() == "ok"


def test_a_missing_wheel_or_entry_point_fails_the_run(api: DatabricksEmulator, client: WorkspaceClient) -> None:
    missing = f"{VOLUME}/wheels/nope-0.1-py3-none-any.whl"
    task = {"task_key": "wheel", "new_cluster": {"spark_version": "17.3.x-scala2.13", "num_workers": 0},
            "python_wheel_task": {"package_name": "nope", "entry_point": "main"}, "libraries": [{"whl": missing}]}
    _, run = _watch(client, client.jobs.submit(tasks=[SubmitTask.from_dict(task)]).bind()["run_id"])
    assert (run.state.life_cycle_state, run.state.result_state) == (RunLifeCycleState.INTERNAL_ERROR,
                                                                    RunResultState.FAILED)
    assert f'Library installation failed for library due to user error for whl: "{missing}"' in run.state.state_message

    client.files.upload(f"{VOLUME}/wheels/probe_pkg-0.1-py3-none-any.whl",
                        io.BytesIO(_wheel("probe_pkg", "0.1", {"__init__": PROBE_MODULE}, {"probe": "probe_pkg:main"})))
    task = {**task, "python_wheel_task": {"package_name": "probe_pkg", "entry_point": "absent"},
            "libraries": [{"whl": f"{VOLUME}/wheels/probe_pkg-0.1-py3-none-any.whl"}]}
    _, run = _watch(client, client.jobs.submit(tasks=[SubmitTask.from_dict(task)]).bind()["run_id"])
    assert run.state.result_state == RunResultState.FAILED
    assert "no entry point absent in package probe_pkg" in client.jobs.get_run_output(run.tasks[0].run_id).error


# ---- a workspace without a DBFS root, driven by the real Pipes client for serverless --------------
PIPES_MODULE = """
from dagster_pipes import (PipesCliArgsParamsLoader, PipesUnityCatalogVolumesContextLoader,
                           PipesUnityCatalogVolumesMessageWriter, open_dagster_pipes)

def main():
    with open_dagster_pipes(context_loader=PipesUnityCatalogVolumesContextLoader(),
                            message_writer=PipesUnityCatalogVolumesMessageWriter(interval=0.1),
                            params_loader=PipesCliArgsParamsLoader()) as pipes:
        pipes.log.info("hello from the wheel")
        pipes.report_asset_materialization(metadata={"partition_rows": 3})
"""


@pytest.mark.filterwarnings("ignore:.*is currently in preview")
def test_pipes_serverless_client_on_a_workspace_without_dbfs(tmp_path: Path) -> None:
    with DatabricksEmulator(root=tmp_path / "ws", token=TOKEN, volumes=["main.pdm.staging"], dbfs=False) as api:
        client = WorkspaceClient(host=api.host, token=TOKEN)
        with pytest.raises(PermissionDenied, match="DBFS root is disabled"):
            client.dbfs.get_status("/")
        client.files.upload(f"{VOLUME}/wheels/pipes_probe-0.1-py3-none-any.whl",
                            io.BytesIO(_wheel("pipes_probe", "0.1", {"__init__": PIPES_MODULE}, {})))
        pipes_client = PipesDatabricksServerlessClient(
            client=client, volume_path=VOLUME, poll_interval_seconds=0.1,
            # Quick polls, and no stdout/stderr capture: dagster-pipes' tee threads take seconds to wind down.
            message_reader=PipesUnityCatalogVolumesMessageReader(client=client, volume_path=VOLUME, interval=0.1,
                                                                 include_stdio_in_messages=False))

        @asset
        def probed(context: AssetExecutionContext):  # noqa: ANN202 - Dagster reads the return type
            task = SubmitTask.from_dict({"task_key": "probe", "environment_key": "default", "python_wheel_task": {
                "package_name": "pipes_probe", "entry_point": "main"}})
            environment = JobEnvironment.from_dict({"environment_key": "default", "spec": {
                "client": "2", "dependencies": [f"{VOLUME}/wheels/pipes_probe-0.1-py3-none-any.whl"]}})
            return pipes_client.run(context=context, task=task,
                                    submit_args={"environments": [environment]}).get_materialize_result()

        result = materialize([probed])

        assert result.success
        [event] = result.get_asset_materialization_events()
        assert event.materialization.metadata["partition_rows"].value == 3
        paths = [path for _, path in api.requests]
        assert paths.count("/api/2.0/dbfs/get-status") == 1 and not any("/dbfs/" in p for p in paths[1:])
        assert not any(TOKEN.encode() in body for body in api.request_bodies)
        assert list(client.files.list_directory_contents(f"{VOLUME}/tmp")) == []  # the Pipes tempdirs are gone

        dbfs_wheel = {"task_key": "w", "existing_cluster_id": "c", "libraries": [{"whl": "dbfs:/w.whl"}],
                      "python_wheel_task": {"package_name": "w", "entry_point": "main"}}
        _, run = _watch(client, client.jobs.submit(tasks=[SubmitTask.from_dict(dbfs_wheel)]).bind()["run_id"])
        assert "Public DBFS root is disabled" in run.state.state_message
