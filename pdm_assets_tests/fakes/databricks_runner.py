"""One-time job runs (`jobs/runs/submit`): each `spark_python_task` or `python_wheel_task` runs in a local subprocess.

Life cycle as Databricks reports it: PENDING -> RUNNING -> TERMINATING -> TERMINATED, or
INTERNAL_ERROR when the task cannot start (a missing file, a library that fails to install);
result_state SUCCESS, FAILED, TIMEDOUT or CANCELED. A task runs on its cluster (new_cluster,
existing_cluster_id) or, with an environment_key and no cluster, on "serverless".
Wheels (`libraries: [{"whl": path}]` on a cluster, wheel paths among a serverless environment's
dependencies) are extracted into the run's folder, which goes first on the task's PYTHONPATH.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .databricks_dbfs import INTERNAL_DIR, Dbfs
from .databricks_errors import ApiError, invalid
from .databricks_files import VOLUMES_DIR, Volumes
from .databricks_runs import (
    Run,
    RunState,
    cluster_document,
    now_ms,
    run_document,
    single_task,
    task_document,
    task_environment,
)

BOOTSTRAP = Path(__file__).with_name("databricks_bootstrap.py")
TAIL_CHARS = 4000  # how much stderr goes into state_message and error_trace
MAX_OUTPUT = 5 * 1024 * 1024  # runs/get-output returns at most 5 MB of logs
WHEEL_TASK = "--python-wheel"  # the bootstrap's first argument for a python_wheel_task (see databricks_bootstrap)


def _tail(path: Path, chars: int = TAIL_CHARS) -> str:
    """The end of a log file, trimmed to whole lines."""
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    return text if len(text) <= chars else text[-chars:].split("\n", 1)[-1]


class JobRunner:
    """Accepts submitted runs, runs each task in a subprocess and answers runs/get, get-output, cancel."""

    def __init__(self, dbfs: Dbfs, host: Callable[[], str], task_env: Callable[[], dict[str, str]],
                 pending_seconds: float, terminating_seconds: float, *, volumes: Volumes | None = None,
                 dbfs_enabled: bool = True) -> None:
        self._dbfs = dbfs
        self._volumes = volumes or Volumes(dbfs.root)
        self._dbfs_enabled = dbfs_enabled
        self._host = host
        self._task_env = task_env
        self._pending = pending_seconds
        self._terminating = terminating_seconds
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.runs: dict[int, Run] = {}
        self.submitted: list[dict[str, Any]] = []

    def submit(self, body: dict[str, Any]) -> dict[str, int]:
        """Validate and start a run; a repeated idempotency_token returns the earlier run."""
        token = body.get("idempotency_token")
        with self._lock:
            for run in self.runs.values():
                if token and run.spec.get("idempotency_token") == token:
                    return {"run_id": run.run_id}
            task = single_task(body)
            environment = task_environment(body, task)
            run_id, task_run_id, job_id = next(self._ids), next(self._ids), next(self._ids)
            cluster_id = "" if environment is not None else (
                task.get("existing_cluster_id") or f"{time.strftime('%m%d')}-000000-job{task_run_id}")
            workdir = self._dbfs.root / INTERNAL_DIR / "runs" / str(task_run_id)
            run = Run(run_id, task_run_id, job_id, copy.deepcopy(body), task, cluster_id, workdir, environment)
            if environment is not None:
                run.state = RunState("PENDING", None, "")  # no cluster to wait for
            self.runs[run_id] = run
            self.submitted.append(copy.deepcopy(body))
        thread = threading.Thread(target=self._execute, args=(run,), name=f"emulated-run-{run_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return {"run_id": run_id}

    def get(self, run_id: int) -> dict[str, Any]:
        """The runs/get document of a submitted run."""
        return run_document(self._run(run_id), self._host())

    def get_output(self, run_id: int) -> dict[str, Any]:
        """runs/get-output of a task run: stdout as logs; on failure the error line and the traceback."""
        for run in self.runs.values():
            if run.task_run_id == run_id:
                out: dict[str, Any] = {"metadata": task_document(run, self._host()),
                                       "logs": _tail(run.stdout, MAX_OUTPUT), "logs_truncated": False}
                if run.error is not None:
                    out["error"], out["error_trace"] = run.error, _tail(run.stderr)
                return out
        if run_id in self.runs:
            raise invalid("Retrieving the output of runs with multiple tasks is not supported. "
                          "Please retrieve the output of each individual task run instead.")
        raise invalid(f"Run {run_id} does not exist.")

    def cancel(self, run_id: int) -> dict[str, Any]:
        """Ask a run to stop; it ends TERMINATED/CANCELED once its process is gone (a no-op when done)."""
        run = self._run(run_id)
        run.cancelled.set()
        if run.process is not None:
            # Asynchronous like Databricks: answer at once, the worker records CANCELED when the process is gone.
            threading.Thread(target=_kill, args=(run.process,), daemon=True).start()
        return {}

    def cluster(self, cluster_id: str) -> dict[str, Any] | None:
        """clusters/get for a job cluster one of the runs created, or None for any other id."""
        for run in self.runs.values():
            if run.cluster_id == cluster_id and run.task.get("new_cluster"):
                return cluster_document(run)
        return None

    def shutdown(self) -> None:
        """Kill every live task process and wait for the worker threads."""
        for run in list(self.runs.values()):
            run.cancelled.set()
            if run.process is not None:
                _kill(run.process)
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self, run_id: int) -> Run:
        if run_id not in self.runs:
            # 400 with this wording is what Databricks sends; the SDK raises it as ResourceDoesNotExist.
            raise invalid(f"Run {run_id} does not exist.")
        return self.runs[run_id]

    # ---- execution (one worker thread per run) -------------------------------------------------
    def _execute(self, run: Run) -> None:
        """Wait for the 'cluster', run the task, record how it ended."""
        try:
            if run.cancelled.wait(self._pending):
                self._finish(run, "CANCELED", "Run cancelled before it started.")
                return
            run.workdir.mkdir(parents=True, exist_ok=True)
            command = self._command(run)
            env = self._env(run, self._install_wheels(run))
            with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
                # A session of its own, so cancel can kill the whole group (a Spark JVM included).
                run.process = subprocess.Popen(command, cwd=run.workdir, env=env, stdout=out,
                                               stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            run.exec_start = now_ms()
            run.state = RunState("RUNNING", None, "")
            if run.cancelled.is_set():  # a cancel that raced the start
                _kill(run.process)
            self._wait(run)
        except Exception as err:  # noqa: BLE001 - whatever stops the start must still end the run visibly
            run.error = err.message if isinstance(err, ApiError) else f"{type(err).__name__}: {err}"
            self._finish(run, "FAILED", run.error, life_cycle="INTERNAL_ERROR")

    def _command(self, run: Run) -> list[str]:
        if "python_wheel_task" in run.task:
            task = run.task["python_wheel_task"]
            # named_parameters become --name=value, as Databricks passes them when parameters is empty.
            params = task.get("parameters") or [f"--{k}={v}" for k, v in (task.get("named_parameters") or {}).items()]
            return [sys.executable, str(BOOTSTRAP), WHEEL_TASK, str(task["package_name"]), str(task["entry_point"]),
                    *[str(p) for p in params]]
        task = run.task["spark_python_task"]
        python_file = str(task["python_file"])
        try:
            script = self._local(python_file)
        except PermissionError as err:
            raise invalid(str(err)) from None
        if not script.is_file():
            raise invalid(f"Python file {python_file} does not exist.")
        return [sys.executable, str(BOOTSTRAP), str(script), *[str(p) for p in task.get("parameters", [])]]

    def _local(self, path: str) -> Path:
        """The file behind a task's path: `dbfs:/x` or `/dbfs/x` (DBFS), `/Volumes/...`, else this machine's."""
        if path.startswith(("dbfs:", "/dbfs/")):
            if not self._dbfs_enabled:
                raise PermissionError(f"Public DBFS root is disabled. Access is denied on path: {path}")
            return self._dbfs.local(path.removeprefix("/dbfs") if path.startswith("/dbfs/") else path)
        if path.startswith(f"/{VOLUMES_DIR}/"):
            return self._volumes.local(path)
        return Path(path)

    def _wheels(self, run: Run) -> list[str]:
        """The wheel paths a run installs: its `whl` libraries, or its serverless environment's wheel dependencies."""
        if run.environment is not None:
            # Other dependencies (PyPI requirements, pip options) are already in this interpreter's environment.
            return [dep.strip() for dep in run.environment.get("dependencies") or []
                    if dep.strip().endswith(".whl") and dep.strip().startswith(("/", "dbfs:"))]
        return [str(lib["whl"]) for lib in run.task.get("libraries") or [] if isinstance(lib, dict) and lib.get("whl")]

    def _install_wheels(self, run: Run) -> Path | None:
        """Extract the run's wheels into its folder, as `pip install` lays them out; None when it has none."""
        wheels = self._wheels(run)
        if not wheels:
            return None
        target = run.workdir / "wheels"
        for wheel in wheels:
            try:
                local = self._local(wheel)
                if not local.is_file():
                    raise FileNotFoundError(f"File {wheel} does not exist.")
                with zipfile.ZipFile(local) as archive:
                    archive.extractall(target)  # extractall keeps members inside target (no "..", no absolute)
            except (OSError, zipfile.BadZipFile) as err:
                where = f" in environment '{run.task['environment_key']}'" if run.environment is not None else ""
                raise invalid(f'Library installation failed for library due to user error for whl: "{wheel}"'
                              f"{where}. Error messages: {err}") from None
        return target

    def _env(self, run: Run, wheels: Path | None = None) -> dict[str, str]:
        """The emulator's task environment, the cluster's spark_env_vars, and what a driver always has."""
        cluster = run.task.get("new_cluster") or {}
        env = {**self._task_env(), **{k: str(v) for k, v in (cluster.get("spark_env_vars") or {}).items()}}
        env.update(DATABRICKS_EMULATOR_SPARK_CONF=json.dumps(cluster.get("spark_conf") or {}),
                   DB_IS_DRIVER="TRUE", PYTHONUNBUFFERED="1")
        if run.cluster_id:
            env["DB_CLUSTER_ID"] = run.cluster_id
        if wheels is not None:
            # Installed libraries win over anything else importable (the editable project included), as on a cluster.
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(wheels), env.get("PYTHONPATH")) if p)
        return env

    def _wait(self, run: Run) -> None:
        assert run.process is not None
        timeout = run.spec.get("timeout_seconds") or run.task.get("timeout_seconds") or None
        try:
            code = run.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(run.process)
            self._finish(run, "TIMEDOUT", f"Run timed out after {timeout} seconds.")
            return
        if run.cancelled.is_set():
            self._finish(run, "CANCELED", "Run cancelled.")
        elif code == 0:
            self._finish(run, "SUCCESS", "")
        else:
            stderr = _tail(run.stderr)
            lines = [line for line in stderr.splitlines() if line.strip()]
            run.error = lines[-1] if lines else f"Process exited with code {code}"
            self._finish(run, "FAILED", f"Task {run.task['task_key']} failed with exit code {code}:\n{stderr}")

    def _finish(self, run: Run, result: str, message: str, life_cycle: str = "TERMINATED") -> None:
        """TERMINATING for a moment (with the result already known, as Databricks reports it), then final."""
        run.end_time = now_ms()
        if life_cycle == "TERMINATED":
            run.state = RunState("TERMINATING", result, message)
            self._ship_cluster_logs(run)
            time.sleep(self._terminating)
        run.state = RunState(life_cycle, result, message)

    def _ship_cluster_logs(self, run: Run) -> None:
        """Copy driver logs to `cluster_log_conf.dbfs.destination`, where `wait_for_logs` looks for them."""
        destination = (((run.task.get("new_cluster") or {}).get("cluster_log_conf") or {}).get("dbfs") or {})
        if destination.get("destination"):
            driver = self._dbfs.local(f"{destination['destination']}/{run.cluster_id}/driver")
            driver.mkdir(parents=True, exist_ok=True)
            for log in (run.stdout, run.stderr):
                if log.exists():
                    (driver / log.name).write_bytes(log.read_bytes())


def _kill(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the task's process group, SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
