"""`pdm-demo`: simulate a landing zone if needed and run the main job on the selected deployment."""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Optional, Sequence

MAIN_JOB = "pipeline_job"  # raw -> features -> labels -> training set -> model (gated) -> predictions


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdm-demo", description=__doc__)
    p.add_argument("--machines", type=int, default=100, help="machines to simulate (default 100)")
    p.add_argument("--days", type=int, default=None,
                   help="only the first N days of the timeline (default: the whole timeline)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--verbose", action="store_true",
                   help="show Dagster's, Spark's and MLflow's output here instead of in the log file")
    return p


# Dagster's switch for range runs: one "planned" event per asset with the range, instead of one per
# asset and day (a year of 8 assets is ~2,900 events, ~35 s before the run starts). The price, in
# Dagster's words: a failed range run does not mark its partitions failed in the UI.
PLANNED_EVENTS_AS_SUBSETS = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def _ensure_dagster_home(home: Path) -> Path:
    """Use $DAGSTER_HOME, else <PDM_HOME>/dagster, so `dagster dev` later shows this run."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster")
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():  # runs offline (no usage telemetry); a range's per-day records in one transaction
        from pdm_assets.deployments.instance import instance_yaml

        config.write_text(instance_yaml(dagster_home))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ.setdefault(PLANNED_EVENTS_AS_SUBSETS, "true")
    return dagster_home


def _ensure_landing(landing: Path, start: date, last: date, machines: int, seed: int) -> str:
    """Simulate the days the timeline needs that the landing zone does not have yet."""
    from pdm_assets.simulator import append, generate
    from pdm_assets.simulator.simulate import ManifestError, read_manifest

    try:
        manifest = read_manifest(landing)
    except ManifestError:
        return str(generate(landing, machines=machines, start=start, until=last, seed=seed))
    if date.fromisoformat(manifest["first_day"]) > start:
        raise SystemExit(f"The landing zone {landing} starts at {manifest['first_day']}, after {start}; "
                         "use an empty PDM_HOME or PDM_LANDING_DIR.")
    summary = append(landing, until=last, progress=True)
    return str(summary) if summary.days_written else f"landing zone {landing} already holds {start}..{last}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    from pdm_assets.storage.spark_session import JavaNotFoundError, require_java

    try:
        require_java()
    except JavaNotFoundError as err:
        print(f"pdm-demo: {err}", file=sys.stderr)
        return 2
    from pdm_assets.deployments import Settings
    from pdm_assets.definitions import build_definitions

    settings = Settings.from_env()
    start, last = settings.start, settings.last_day()
    if args.days:
        last = min(last, start + timedelta(days=args.days - 1))
    dagster_home = _ensure_dagster_home(settings.home)
    print(f"pdm-demo: timeline {start}..{last}, PDM_HOME={settings.home}, deployment={settings.deployment}")
    print("pdm-demo: " + _ensure_landing(settings.landing_dir, start, last, args.machines, args.seed))

    from dagster import DagsterInstance

    from pdm_assets.tools.progress import StepProgress, output_to_log
    from pdm_assets.partitions import range_tags

    job = build_definitions(settings).resolve_job_def(MAIN_JOB)
    run_id = str(uuid.uuid4())  # known before the run starts, so the progress display can follow it
    log_path = settings.home / "logs" / f"pdm-demo-{run_id[:8]}.log"

    def run(instance):
        return job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=_training_window(start, last),
            tags=range_tags(start, last), run_id=run_id,
        )

    began = time.perf_counter()
    with DagsterInstance.get() as instance:
        if args.verbose:
            result = run(instance)
        else:
            print(f"pdm-demo: run {run_id}; Dagster's, Spark's and MLflow's output go to {log_path}")
            with output_to_log(log_path) as terminal:
                with StepProgress(instance, run_id, len(job.graph.nodes), terminal):
                    result = run(instance)
    print(_summary(result, time.perf_counter() - began, settings, dagster_home))
    if not args.verbose:
        print(f"Log:      {log_path}")
    return 0 if result.success else 1


def _training_window(start: date, last: date) -> dict:
    """The default 9 + 3 months for a year or more; a shorter demo holds out its last quarter."""
    days = (last - start).days + 1
    if days >= 365:
        return {}
    holdout_start = start + timedelta(days=max(1, days * 3 // 4))
    return {"ops": {"training_set": {"config": {"holdout_start": holdout_start.isoformat()}}}}


def _summary(result, seconds: float, settings, dagster_home: Path) -> str:
    lines = [f"\nRun {result.run_id} {'succeeded' if result.success else 'FAILED'} in {seconds:.0f} s."]
    totals: dict[str, list[int]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        figures = totals.setdefault(mat.asset_key.to_user_string(), [0, 0, 0])
        figures[0] += 1
        figures[1] += int(meta.get("dagster/row_count", 0))
        figures[2] += int(meta.get("reject_count", 0))
    for key, (parts, rows, rejects) in totals.items():
        if key == "failure_model":  # no table: the model lives in the MLflow registry (below)
            continue
        shown_rejects = f"{rejects:>7,} rejects" if key.startswith("raw_") else ""
        lines.append(f"  {key:<20} {parts:>4} partition(s) {rows:>11,} rows {shown_rejects}")
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        kind = "warning" if evaluation.severity.value == "WARN" else "ERROR"
        # Short figures only: the full tables (per-day PSI, ...) are in the UI.
        detail = ", ".join(_short(k, v.value) for k, v in evaluation.metadata.items())
        said = f"{evaluation.description}; " if evaluation.description else ""
        lines.append(f"  {kind}: {evaluation.asset_key.to_user_string()}.{evaluation.check_name} ({said}{detail})")
    lines += _model_lines(result)
    lines += [
        f"Tables:   {settings.warehouse}",
        f"MLflow:   mlflow ui --backend-store-uri sqlite:///{settings.home / 'mlflow' / 'mlflow.db'}",
        f"Landing:  {settings.landing_dir}",
        f"See it:   DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml",
    ]
    return "\n".join(lines)


def _short(key: str, value) -> str:
    """key=value, or the number of entries when the value is a long table (see the UI for it)."""
    if len(str(value)) <= 60:
        return f"{key}={value}"
    if isinstance(value, dict):
        return f"{key}: {len(value)} entries"
    return f"{key}: see the UI"


RUN_WIDE = ("failure_model", "failure_predictions", "maintenance_alerts", "prediction_outcomes")


def _model_lines(result) -> list[str]:
    """Model version, gate and holdout quality; days scored and predicted failures by component."""
    lines = []
    meta = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() in RUN_WIDE:  # run-wide figures (not the per-day ones)
            meta[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    model = meta.get("failure_model")
    if model:
        lines.append(f"Model:    {model['model_name']} version {model['model_version']} "
                     f"(champion: version {model['champion_version']}), holdout macro F1 {model['macro_f1']:.3f}, "
                     f"recall {', '.join(f'{c} {v:.2f}' for c, v in model['recall'].items() if v is not None)}")
        lines.append(f"          holdout {model['events_summary']}")
        lines.append(f"          alarm rule {model['decision_rule']}; {model['training_window']}; "
                     f"MLflow run {model['mlflow_run_id']}")
    scored = meta.get("failure_predictions")
    if scored:
        counts = scored["predicted_class_counts"]
        failures = ", ".join(f"{c} {n:,}" for c, n in counts.items() if c != "none")
        lines.append(f"Scored:   {scored['run_first_day']}..{scored['run_last_day']} with version "
                     f"{scored['model_version']}: predicted failures (machine x 3 h points) {failures}")
    return lines + _alert_lines(meta.get("maintenance_alerts"), meta.get("prediction_outcomes"))


def _alert_lines(alerts: Optional[dict], outcomes: Optional[dict]) -> list[str]:
    """Today's open alerts (top 5) and the realized figures of the last judged week."""
    from pdm_assets.pipeline.outcomes import ratio_text

    lines = []
    if alerts is not None:
        top = alerts.get("top_open_alerts") or []
        lines.append(f"Alerts:   open at the end of {alerts['run_last_day']}: "
                     + ("; ".join(f"machine {a['machine_id']} {a['component']} p={a['probability']:.2f} "
                                  f"({a['hours_of_warning']:.0f} h)" for a in top) or "none"))
    week = (outcomes or {}).get("last_7_judged_days")
    if week:
        lines.append(f"Realized: {week['from']}..{week['to']}: {week['warned']}/{week['failures']} failures warned "
                     f"(event recall {ratio_text(week['event_recall'])}), {week['false_episodes']} of "
                     f"{week['episodes']} alarm episodes false (alarm precision {ratio_text(week['alarm_precision'])})")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
