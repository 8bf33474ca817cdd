"""pdm-demo's display: output to a log file, a line per step from the run's events."""
from __future__ import annotations

import io
import subprocess
import sys
import uuid
import warnings

from dagster import Definitions, MaterializeResult, asset, define_asset_job, instance_for_test

from pdm_assets.automation.progress import StepProgress, Terminal, output_to_log


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
