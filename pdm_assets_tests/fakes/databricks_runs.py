"""The record of a one-time run and the JSON documents Databricks describes runs with."""
from __future__ import annotations

import copy
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .databricks_errors import invalid, required

TERMINAL = ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")
TASK_KINDS = ("spark_python_task", "python_wheel_task")
# Termination details of the Jobs 2.2 `status` block, per result state.
_TERMINATION = {"SUCCESS": ("SUCCESS", "SUCCESS"), "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
                "TIMEDOUT": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"), "CANCELED": ("USER_CANCELED", "SUCCESS")}


def now_ms() -> int:
    """Epoch milliseconds, the unit of every Databricks timestamp."""
    return int(time.time() * 1000)


class RunState(NamedTuple):
    """life_cycle_state, result_state and state_message, replaced as one value so readers never see a mix."""

    life_cycle: str
    result: str | None
    message: str


@dataclass
class Run:
    """A submitted one-time run with its single task, as the runner's worker thread advances it."""

    run_id: int
    task_run_id: int
    job_id: int
    spec: dict[str, Any]
    task: dict[str, Any]
    cluster_id: str  # "" on serverless: no cluster to show or to ask clusters/get about
    workdir: Path
    environment: dict[str, Any] | None = None  # the environment spec of a serverless task
    state: RunState = RunState("PENDING", None, "Waiting for cluster")
    start_time: int = field(default_factory=now_ms)
    exec_start: int = 0
    end_time: int = 0
    process: subprocess.Popen | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    error: str | None = None  # the one-line error runs/get-output reports

    @property
    def stdout(self) -> Path:
        return self.workdir / "stdout"

    @property
    def stderr(self) -> Path:
        return self.workdir / "stderr"


def single_task(body: Mapping[str, Any]) -> dict[str, Any]:
    """The one python task of a submit body (2.1/2.2 `tasks`, or the 2.0 top-level form), validated."""
    tasks = body.get("tasks")
    if tasks is None:  # Jobs API 2.0: the task and its cluster sit at the top level
        keys = (*TASK_KINDS, "new_cluster", "existing_cluster_id", "libraries", "timeout_seconds")
        tasks = [{"task_key": "run", **{k: body[k] for k in keys if k in body}}]
    if not isinstance(tasks, list) or len(tasks) != 1:
        raise invalid(f"The emulator runs exactly one task per submitted run; got {len(tasks or [])}.")
    task = copy.deepcopy(tasks[0])
    required(task, "task_key")
    kinds = sorted(k for k in task if k.endswith("_task"))
    if len(kinds) != 1 or kinds[0] not in TASK_KINDS:
        raise invalid(f"Only spark_python_task and python_wheel_task are supported by the emulator; "
                      f"got {kinds or 'no task'}.")
    if "spark_python_task" in task:
        required(task["spark_python_task"], "python_file")
    else:
        required(task["python_wheel_task"], "package_name")
        required(task["python_wheel_task"], "entry_point")
    if not (task.get("new_cluster") or task.get("existing_cluster_id") or task.get("environment_key")):
        raise invalid("One of job_cluster_key, new_cluster, or existing_cluster_id must be specified.")
    return task


def is_serverless(task: Mapping[str, Any]) -> bool:
    """A task with an environment and no cluster of its own runs on serverless compute."""
    return bool(task.get("environment_key")) and not (task.get("new_cluster") or task.get("existing_cluster_id"))


def task_environment(body: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any] | None:
    """The environment spec a serverless task runs in (None on a cluster), validated as Databricks does."""
    if not is_serverless(task):
        return None
    key = task["environment_key"]
    if task.get("libraries"):
        raise invalid("Libraries field is not supported for serverless task, please specify libraries in environment.")
    found = [env for env in body.get("environments") or []
             if isinstance(env, Mapping) and env.get("environment_key") == key]
    if not found:
        raise invalid(f"Task {task['task_key']} refers to environment_key '{key}', which is not defined in the "
                      f"job's environments.")
    spec = found[0].get("spec")
    if not isinstance(spec, Mapping) or not (spec.get("client") or spec.get("environment_version")):
        raise invalid(f"Environment '{key}': one of spec.client or spec.environment_version must be specified.")
    dependencies = spec.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise invalid(f"Environment '{key}': spec.dependencies must be a list of strings.")
    return copy.deepcopy(dict(spec))


def run_document(run: Run, host: str) -> dict[str, Any]:
    """runs/get: the run, its state and its one task."""
    return {**_common(run, run.run_id, host), "tasks": [task_document(run, host)], "format": "MULTI_TASK",
            "run_type": "SUBMIT_RUN", "run_name": run.spec.get("run_name", "Untitled")}


def task_document(run: Run, host: str) -> dict[str, Any]:
    """A task run: its submitted spec plus state, timings and (once started on a cluster) its cluster instance."""
    doc = {**copy.deepcopy(run.task), **_common(run, run.task_run_id, host)}
    if doc["state"]["life_cycle_state"] != "PENDING" and run.cluster_id:
        doc["cluster_instance"] = {"cluster_id": run.cluster_id, "spark_context_id": str(run.task_run_id * 7919)}
    return doc


def cluster_document(run: Run) -> dict[str, Any]:
    """clusters/get for the job cluster a run created: its spec, RUNNING until the run ends."""
    done = run.state.life_cycle in TERMINAL
    extra = {"termination_reason": {"code": "JOB_FINISHED", "type": "SUCCESS"}} if done else {}
    return {**run.task["new_cluster"], "cluster_id": run.cluster_id, "cluster_source": "JOB",
            "state": "TERMINATED" if done else "RUNNING", **extra}


def _common(run: Run, run_id: int, host: str) -> dict[str, Any]:
    current = run.state  # read once: the worker thread may replace it meanwhile
    state: dict[str, Any] = {"life_cycle_state": current.life_cycle, "state_message": current.message,
                             "user_cancelled_or_timedout": current.result in ("CANCELED", "TIMEDOUT")}
    status: dict[str, Any] = {"state": "TERMINATED" if current.life_cycle == "INTERNAL_ERROR" else current.life_cycle}
    if current.result is not None:
        state["result_state"] = current.result
        code, kind = _TERMINATION[current.result]
        if current.life_cycle == "INTERNAL_ERROR":
            code, kind = "INTERNAL_ERROR", "INTERNAL_ERROR"
        status["termination_details"] = {"code": code, "type": kind, "message": current.message}
    doc = {"job_id": run.job_id, "run_id": run_id, "number_in_job": run_id, "original_attempt_run_id": run_id,
           "creator_user_name": "emulator@localhost", "state": state, "status": status, "attempt_number": 0,
           "start_time": run.start_time, "setup_duration": max(0, run.exec_start - run.start_time),
           "run_page_url": f"{host}/?o=0#job/{run.job_id}/run/{run_id}"}
    if current.result is not None and run.end_time:
        doc.update(end_time=run.end_time, execution_duration=run.end_time - (run.exec_start or run.end_time),
                   run_duration=run.end_time - run.start_time, cleanup_duration=0)
    return doc
