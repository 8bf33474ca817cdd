"""A loopback Databricks REST API (DBFS, UC Volumes' Files API, one-time job runs, clusters/get) for offline tests.

    with DatabricksEmulator(root=tmp_path, token="t0k", volumes=["main.pdm.staging"]) as api:
        client = WorkspaceClient(host=api.host, token=api.token)

`dbfs:/x` is `<root>/x` (`api.dbfs_path`); `/Volumes/c/s/v/x` is `<root>/Volumes/c/s/v/x` (`api.volume_path`),
served by `/api/2.0/fs/files|directories` for the volumes that exist (`volumes=`, `create_volume`).
`dbfs=False` is a workspace whose DBFS root is disabled: every DBFS API call is refused (and recorded).
Submitted `spark_python_task`s and `python_wheel_task`s run in a subprocess of this interpreter, on a
cluster or, with an `environment_key` and no cluster, on "serverless"; the driver sees `/dbfs` and
`/Volumes` as FUSE mounts (see databricks_runner.py and databricks_bootstrap.py).
`api.requests` records (method, path) of every authenticated call, `api.request_bodies` every raw body.
"""
from __future__ import annotations

import email.parser
import email.policy
import hmac
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import databricks_dbfs, databricks_files
from .databricks_dbfs import Dbfs
from .databricks_errors import ApiError, as_int, invalid, required
from .databricks_files import Reply, Volumes
from .databricks_runner import JobRunner
from .databricks_runs import TERMINAL

# What a task process takes from the host environment; everything else must come from the submitted
# cluster spec or `extra_env`, as on a real cluster (a laptop's PDM_* or DATABRICKS_* never leak in).
INHERITED_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "JAVA_HOME",
                 "SPARK_HOME", "HADOOP_HOME", "VIRTUAL_ENV", "PYTHONPATH")
_ROUTE = re.compile(r"^/api/(?P<version>2\.[0-2])/(?P<endpoint>[a-z0-9/-]+)$")


class DatabricksEmulator:
    """Owns the HTTP server, the DBFS folder and the job runner; a context manager."""

    def __init__(self, root: Path | str, token: str = "dapi-emulator", *,
                 secrets: Mapping[str, Mapping[str, str]] | None = None,
                 extra_env: Mapping[str, str] | None = None,
                 runtime_spark_conf: Mapping[str, str] | None = None,
                 inherit_env: Iterable[str] = INHERITED_ENV,
                 pending_seconds: float = 0.2, terminating_seconds: float = 0.2,
                 volumes: Iterable[str] = (), dbfs: bool = True) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.secrets = {scope: dict(keys) for scope, keys in (secrets or {}).items()}
        self.extra_env = dict(extra_env or {})
        # What the Databricks runtime configures in every cluster's Spark (Delta Lake, for one).
        self.runtime_spark_conf = dict(runtime_spark_conf or {})
        self.inherit_env = tuple(inherit_env)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every authenticated call
        self.request_bodies: list[bytes] = []  # the raw body of every call, refused ones too (to grep for secrets)
        self.dbfs = Dbfs(self.root)
        self.dbfs_enabled = dbfs
        self.volumes = Volumes(self.root, volumes)  # `catalog.schema.volume` names that exist
        self.jobs = JobRunner(self.dbfs, lambda: self.host, self.task_env, pending_seconds, terminating_seconds,
                              volumes=self.volumes, dbfs_enabled=dbfs)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> DatabricksEmulator:
        """Listen on an ephemeral loopback port and serve in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="databricks-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill live task processes, then stop serving."""
        self.jobs.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DatabricksEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests use ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The workspace URL, e.g. `http://127.0.0.1:54321`."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def submitted_runs(self) -> list[dict[str, Any]]:
        """Every runs/submit body as received (libraries included), oldest first."""
        return list(self.jobs.submitted)

    def dbfs_path(self, path: str) -> Path:
        """The local file behind `dbfs:/x` (or `/x`)."""
        return self.dbfs.local(path)

    def volume_path(self, path: str) -> Path:
        """The local file behind `/Volumes/catalog/schema/volume/x`."""
        return self.volumes.local(path)

    def create_volume(self, name: str) -> Path:
        """Create the volume `catalog.schema.volume` (a no-op if it exists); return its local folder."""
        return self.volumes.create(name)

    def env(self) -> dict[str, str]:
        """DATABRICKS_HOST and DATABRICKS_TOKEN for a client of this workspace (e.g. for monkeypatch)."""
        return {"DATABRICKS_HOST": self.host, "DATABRICKS_TOKEN": self.token}

    def run(self, run_id: int) -> dict[str, Any]:
        """The runs/get document of a run."""
        return self.jobs.get(run_id)

    def wait_for_run(self, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the run has fully terminated and return its runs/get document."""
        deadline = time.monotonic() + timeout
        while (doc := self.run(run_id))["state"]["life_cycle_state"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {doc['state']['life_cycle_state']} after {timeout}s")
            time.sleep(0.05)
        return doc

    def task_env(self) -> dict[str, str]:
        """The environment of a task process before the cluster's spark_env_vars are applied."""
        env = {name: os.environ[name] for name in self.inherit_env if name in os.environ}
        # The workspace's own credentials, like a cluster's runtime auth: remote code (the step
        # launcher resource is re-initialised there) can build a client without the laptop's secrets.
        env.update(self.env(), DATABRICKS_EMULATOR_DBFS_ROOT=str(self.root),
                   DATABRICKS_EMULATOR_SECRETS=json.dumps(self.secrets),
                   DATABRICKS_EMULATOR_RUNTIME_CONF=json.dumps(self.runtime_spark_conf))
        return {**env, **self.extra_env}

    # ---- routing -----------------------------------------------------------------------------
    def dispatch_files(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply | dict[str, Any]:
        """Answer one authenticated Files API call (`/api/2.0/fs/files|directories/<percent-encoded path>`)."""
        match = databricks_files.ROUTE.match(path)
        if match is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        return databricks_files.handle(self.volumes, method, match["kind"], unquote(match["path"]), query, body)

    def dispatch(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        """Answer one authenticated API call, or raise ApiError."""
        match = _ROUTE.match(path)
        version, endpoint = (match["version"], match["endpoint"]) if match else ("", "")
        action = endpoint.removeprefix("dbfs/")
        if endpoint.startswith("dbfs/") and not self.dbfs_enabled:
            target = query.get("path") or body.get("path") or body.get("source_path") or "/"
            raise ApiError(403, "PERMISSION_DENIED", f"Public DBFS root is disabled. Access is denied on path: {target}")
        if version == "2.0" and endpoint.startswith("dbfs/"):
            allowed = databricks_dbfs.GET_ACTIONS if method == "GET" else databricks_dbfs.POST_ACTIONS
            if action in allowed:
                return databricks_dbfs.handle(self.dbfs, action, query, body)
        elif (method, endpoint) == ("POST", "jobs/runs/submit"):
            return self.jobs.submit(body)
        elif (method, endpoint) == ("GET", "jobs/runs/get"):
            return self.jobs.get(as_int(required(query, "run_id"), "run_id"))
        elif (method, endpoint) == ("GET", "jobs/runs/get-output"):
            return self.jobs.get_output(as_int(required(query, "run_id"), "run_id"))
        elif (method, endpoint) == ("POST", "jobs/runs/cancel"):
            return self.jobs.cancel(as_int(required(body, "run_id"), "run_id"))
        elif (method, endpoint) == ("GET", "clusters/get") and version in ("2.0", "2.1"):
            return self._cluster(str(required(query, "cluster_id")))
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")

    def _cluster(self, cluster_id: str) -> dict[str, Any]:
        """A job cluster a run created, or a running all-purpose cluster for any other id."""
        return self.jobs.cluster(cluster_id) or {
            "cluster_id": cluster_id, "cluster_name": f"emulated-{cluster_id}", "state": "RUNNING",
            "spark_version": "17.3.x-scala2.13", "node_type_id": "emulated-local", "num_workers": 0,
            "cluster_source": "UI", "spark_conf": {"spark.master": "local[2]"}}


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into `DatabricksEmulator.dispatch` calls and JSON answers (raw bytes for the Files API)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the emulator's `requests` list is the record tests look at."""

    def _serve(self, method: str) -> None:
        emulator: DatabricksEmulator = self.server.emulator  # type: ignore[attr-defined]
        raw = self._read_body()  # always drain: keep-alive
        emulator.request_bodies.append(raw)
        url = urlsplit(self.path)
        try:
            if not self._authorized(emulator.token):
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
            emulator.requests.append((method, url.path))
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            if url.path.startswith("/api/2.0/fs/"):  # the Files API: raw bytes in and out
                answer = emulator.dispatch_files(method, url.path, query, raw)
            else:
                answer = emulator.dispatch(method, url.path, query, self._body(raw))
            if isinstance(answer, Reply):
                self._send_raw(answer)
            else:
                self._send(200, answer)
        except ApiError as err:
            self._send(err.status, err.body())
        except Exception as err:  # noqa: BLE001 - a bug in the emulator must surface as a 500, not a hang
            self._send(500, {"error_code": "INTERNAL_ERROR", "message": f"{type(err).__name__}: {err}"})

    def _read_body(self) -> bytes:
        """The request body, sized by Content-Length or sent in chunks (requests streams unsized bodies so)."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)

    def _authorized(self, token: str) -> bool:
        header = self.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    def _body(self, raw: bytes) -> dict[str, Any]:
        """JSON, or the multipart form `dbfs/put` also accepts (file field `contents` kept as bytes)."""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
            form: dict[str, Any] = {}
            for part in message.iter_parts():
                value = part.get_payload(decode=True) or b""
                name = part.get_param("name", header="content-disposition")
                form[str(name)] = value if part.get_filename() or name == "contents" else value.decode()
            return form
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request") from None
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object")
        return body

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        if self.command == "HEAD":  # a HEAD answer has no body, its errors included
            self._send_raw(Reply(status, {"Content-Length": "0"}))
            return
        self._send_raw(Reply(status, {"Content-Type": "application/json", "Content-Length": str(len(data))}, data))

    def _send_raw(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
