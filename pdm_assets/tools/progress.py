"""What `pdm-demo` shows while a run goes: a line per step, a live status line; everything else to a log file."""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from dagster import DagsterEventType, DagsterInstance

STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.ASSET_MATERIALIZATION,
}
CLEAR_LINE = "\r\033[K"
LINE_UP = "\033[F"


class Terminal:
    """Lines for the user, with one status line redrawn below them when the terminal is interactive."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.live = stream.isatty()
        self._status = ""
        self._last = ""
        self._lock = threading.Lock()

    def say(self, line: str, replacing: Optional[str] = None) -> None:
        """Print a line; on an interactive terminal, over `replacing` if that was the last line printed."""
        with self._lock:
            prefix = CLEAR_LINE if self.live and self._status else ""
            if self.live and replacing is not None and replacing == self._last:
                prefix += LINE_UP + CLEAR_LINE  # a step's end line takes the place of its start line
            self._last = line
            self.stream.write(f"{prefix}{line}\n")
            if self.live and self._status:
                self.stream.write(self._status)
            self.stream.flush()

    def status(self, text: str) -> None:
        if not self.live:
            return
        with self._lock:
            self._status = text
            self.stream.write(CLEAR_LINE + text)
            self.stream.flush()

    def clear_status(self) -> None:
        if self.live and self._status:
            self.status("")
            self._status = ""


@contextmanager
def output_to_log(log_path: Path) -> Iterator[Terminal]:
    """Send whatever reaches file descriptors 1 and 2 (Dagster, Spark's JVM, MLflow) to `log_path`.

    Redirecting the descriptors, not `sys.stdout`, also catches the JVM and other child processes
    started inside. Python warnings that were not filtered where they arise still reach the terminal.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = Terminal(os.fdopen(os.dup(saved[0]), "w", buffering=1))
    shown, streams = warnings.showwarning, (sys.stdout, sys.stderr)
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        # Python's own writes too, even where sys.stdout was not a plain stream on descriptor 1.
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        warnings.showwarning = _also_on(terminal, shown)
        try:
            yield terminal
        finally:
            terminal.clear_status()
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = streams
            warnings.showwarning = shown
            for fd, original in zip((1, 2), saved):
                os.dup2(original, fd)
                os.close(original)
            terminal.stream.close()


def _also_on(terminal: Terminal, shown: Callable) -> Callable:
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        shown(message, category, filename, lineno, file, line)  # the full warning, into the log
        terminal.say(f"warning: {category.__name__}: {message} ({Path(filename).name}:{lineno})")
    return show


def embedded_spark_tasks() -> Optional[str]:
    """'Spark 5/8 tasks' for the stages running in this process's Spark, if it has one."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None or getattr(context, "_jsc", None) is None:  # starting or stopping
        return None
    tracker = context.statusTracker()
    stages = [s for s in map(tracker.getStageInfo, tracker.getActiveStageIds()) if s is not None]
    if not stages:
        return None
    return f"Spark {sum(s.numCompletedTasks for s in stages)}/{sum(s.numTasks for s in stages)} tasks"


class StepProgress:
    """Follows a run in the Dagster instance from a thread: a line when each step starts and ends."""

    def __init__(self, instance: DagsterInstance, run_id: str, total_steps: int, terminal: Terminal,
                 spark_tasks: Callable[[], Optional[str]] = embedded_spark_tasks, interval: float = 0.5):
        self.instance, self.run_id, self.total = instance, run_id, total_steps
        self.terminal, self.spark_tasks, self.interval = terminal, spark_tasks, interval
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self._start_lines: dict[str, str] = {}
        self.finished: list[str] = []
        self._cursor: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="pdm-demo-progress", daemon=True)
        self._began = time.time()

    def __enter__(self) -> "StepProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the run's last events
        self.terminal.clear_status()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
                self.terminal.status(self.status_line())
            except Exception as err:  # the display must never break the run it follows
                self.terminal.say(f"(progress display stopped: {err})")
                return

    def poll(self) -> None:
        connection = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=STEP_EVENTS)
        self._cursor = connection.cursor
        for record in connection.records:
            self.on_event(record.event_log_entry)

    def on_event(self, entry) -> None:
        event = entry.dagster_event
        step = event.step_key or "?"
        if event.event_type == DagsterEventType.STEP_START:
            self.started[step] = entry.timestamp
            self._start_lines[step] = f"[{len(self.finished) + 1}/{self.total}] {step} ..."
            self.terminal.say(self._start_lines[step])
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            row_count = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            self.rows[step] = self.rows.get(step, 0) + int(row_count.value if row_count else 0)
        else:
            self.finished.append(step)
            took = entry.timestamp - self.started.pop(step, entry.timestamp)
            head = f"[{len(self.finished)}/{self.total}] {step}"
            if event.event_type == DagsterEventType.STEP_SUCCESS:
                self.terminal.say(f"{head} done in {took:.0f} s, {self.rows.get(step, 0):,} rows",
                                  replacing=self._start_lines.pop(step, None))
            else:
                said = _innermost(event.step_failure_data.error)
                self.terminal.say(f"{head} FAILED after {took:.0f} s: {said}")  # below its start line

    def status_line(self) -> str:
        now = time.time()
        running = ", ".join(f"{step} {now - began:.0f} s" for step, began in self.started.items())
        parts = [f"{len(self.finished)}/{self.total} steps done, {now - self._began:.0f} s"]
        if running:
            parts.append(f"running {running}")
        try:
            tasks = self.spark_tasks()
        except Exception:  # Spark's status is a bonus: a session starting or stopping must not end the display
            tasks = None
        if tasks:
            parts.append(tasks)
        return "  " + " | ".join(parts)


def _innermost(error) -> str:
    """The user's own error, not Dagster's wrapper around it: 'KeyError: ...' on one line."""
    if error is None:
        return "see the log"
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines() or [""]
    return lines[0] + (" ..." if len(lines) > 1 else "")  # the message starts with the error's class
