"""pdm-demo's display: output to a log file, a line per step from the run's events."""
from __future__ import annotations

import io
import subprocess
import sys
import uuid
import warnings

from dagster import Definitions, MaterializeResult, asset, define_asset_job, instance_for_test

from pdm_assets.tools.progress import StepProgress, Terminal, output_to_log


def test_output_goes_to_the_log_and_progress_and_warnings_to_the_terminal(tmp_path, capfd):
    log = tmp_path / "logs" / "demo.log"
    with output_to_log(log) as terminal:
        print("python print", flush=True)
        subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
                       check=True)
        terminal.say("[1/8] raw_events done in 3 s, 10 rows")
        warnings.warn("a warning a user can act on", UserWarning, stacklevel=1)
    print("after the run")
    out, err = capfd.readouterr()
    lines = out.splitlines()
    assert lines[0] == "[1/8] raw_events done in 3 s, 10 rows"
    assert lines[1].startswith("warning: UserWarning: a warning a user can act on (test_progress.py:")
    assert lines[2:] == ["after the run"] and err == ""
    logged = log.read_text()
    for expected in ("python print", "child out", "child err"):  # (pytest records the warning itself)
        assert expected in logged
    assert "raw_events done" not in logged


@asset
def readings() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 7})


@asset(deps=[readings])
def scores() -> None:
    raise ValueError("broken sensor in machine 12\nsecond line")


def test_step_progress_prints_a_line_when_each_step_starts_and_ends():
    job = Definitions(assets=[readings, scores], jobs=[define_asset_job("two", "*")]).resolve_job_def("two")
    stream = io.StringIO()
    run_id = str(uuid.uuid4())
    with instance_for_test() as instance:
        with StepProgress(instance, run_id, len(job.graph.nodes), Terminal(stream), spark_tasks=lambda: None,
                          interval=0.05) as progress:
            result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
            status = progress.status_line()
    assert not result.success
    assert stream.getvalue().splitlines() == [
        "[1/2] readings ...",
        "[1/2] readings done in 0 s, 7 rows",
        "[2/2] scores ...",
        "[2/2] scores FAILED after 0 s: ValueError: broken sensor in machine 12 ...",
    ]
    assert status.startswith("  2/2 steps done")


def test_status_line_is_only_drawn_on_an_interactive_terminal():
    stream = io.StringIO()
    terminal = Terminal(stream)
    terminal.status("  1/8 steps done")
    terminal.say("a line")
    assert stream.getvalue() == "a line\n"


def test_spark_starting_or_stopping_does_not_end_the_display():
    def starting():  # what the embedded SparkContext said in a fresh run, before its JVM side was set
        raise AttributeError("'SparkContext' object has no attribute '_jsc'")

    progress = StepProgress(None, "run", 3, Terminal(io.StringIO()), spark_tasks=starting)
    assert progress.status_line().startswith("  0/3 steps done") and "Spark" not in progress.status_line()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_step_end_line_takes_the_place_of_its_start_line():
    stream = _Tty()
    terminal = Terminal(stream)
    terminal.say("[1/2] a ...")
    terminal.say("[1/2] a done in 1 s, 3 rows", replacing="[1/2] a ...")  # right below it: over it
    terminal.say("[2/2] b ...")
    terminal.say("warning: something")
    terminal.say("[2/2] b done in 1 s, 3 rows", replacing="[2/2] b ...")  # a line between: below
    assert stream.getvalue() == ("[1/2] a ...\n\033[F\r\033[K[1/2] a done in 1 s, 3 rows\n[2/2] b ...\n"
                                 "warning: something\n[2/2] b done in 1 s, 3 rows\n")
