"""What a training shows in Dagster and MLflow: the model's figures, per row and per failure event, and the gate's."""
from __future__ import annotations

from typing import Optional

from dagster import MetadataValue

from pdm_assets.pipeline.events import EventEvaluation
from pdm_assets.pipeline.lifecycle import Outcome
from pdm_assets.pipeline.model import GateFloors
from pdm_assets.pipeline.training import describe_spans
from pdm_assets.resources.mlflow import LoggedModel


def _rounded(value: Optional[float], digits: int = 4) -> Optional[float]:
    return round(value, digits) if value is not None else None


# Where the holdout figure of each decay metric is found among the MLflow run's metrics.
HOLDOUT_METRIC = {"event_recall": "event_recall", "alarm_precision": "event_alarm_precision", "macro_f1": "macro_f1"}


def run_metrics(outcome: Outcome) -> dict[str, float]:
    """Event-level figures of the holdout for the MLflow run (row-level ones are logged with the evaluation)."""
    return {f"event_{k}" if not k.startswith("event_") else k: v for k, v in outcome.holdout.events.metrics().items()}


def events_markdown(events: EventEvaluation) -> str:
    """Per component: failures, warned, recall, lead; episodes and false alarms."""
    def shown(value: Optional[float], pattern: str) -> str:
        return pattern.format(value) if value is not None else "-"

    rows = [f"| {c} | {f.failures} | {f.warned} | {shown(f.recall, '{:.2f}')} | {shown(f.lead_median_h, '{:.0f}')} | "
            f"{shown(f.lead_p10_h, '{:.0f}')} | {f.episodes} | {f.false_episodes} |"
            for c, f in events.per_component.items()]
    return ("| component | failures | warned | recall | median lead h | p10 lead h | alarm episodes | false |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def model_metadata(outcome: Outcome, logged: LoggedModel, model_name: str, classifier: str,
                   champion_now: Optional[str], run_link: str) -> dict[str, MetadataValue]:
    """The failure_model materialization: registry lineage, window, row- and event-level holdout figures."""
    rows, events = outcome.holdout.rows, outcome.holdout.events
    return {
        "model_name": MetadataValue.text(model_name),
        "model_version": MetadataValue.text(logged.version),
        "mlflow_run_id": MetadataValue.text(logged.run_id),
        "mlflow_run": MetadataValue.url(run_link),
        "model_uri": MetadataValue.text(logged.model_uri),
        "champion_version": MetadataValue.text(champion_now or "none"),
        "classifier": MetadataValue.text(classifier),
        "training_window": MetadataValue.text(describe_spans(outcome.spans)),
        "trained_through": MetadataValue.text(outcome.trained_through.isoformat()),
        "decision_rule": MetadataValue.text(outcome.rule.describe()),
        "train_seconds": MetadataValue.float(round(outcome.train_seconds, 1)),
        "macro_f1": MetadataValue.float(round(rows.macro_f1, 4)),
        "accuracy": MetadataValue.float(round(rows.accuracy, 4)),
        "recall": MetadataValue.json({c: _rounded(v) for c, v in rows.recall.items()}),
        "precision": MetadataValue.json({c: _rounded(v) for c, v in rows.precision.items()}),
        "classes_absent_from_holdout": MetadataValue.text(", ".join(rows.absent) or "none"),
        "confusion_matrix": MetadataValue.md(rows.confusion_markdown()),
        "event_recall": MetadataValue.float(_rounded(events.event_recall) or 0.0),
        "alarm_precision": MetadataValue.float(_rounded(events.alarm_precision) or 0.0),
        "lead_median_hours": MetadataValue.float(_rounded(events.lead_median_h, 1) or 0.0),
        "lead_p10_hours": MetadataValue.float(_rounded(events.lead_p10_h, 1) or 0.0),
        "false_alarms_per_machine_month": MetadataValue.float(round(events.false_episodes_per_machine_month, 4)),
        "events": MetadataValue.md(events_markdown(events)),
        "events_summary": MetadataValue.text(events.summary()),
    }


def gate_metadata(outcome: Outcome, floors: GateFloors, candidate: str, champion_now: Optional[str],
                  run_link: str) -> dict[str, MetadataValue]:
    """The quality gate's figures, floors and the comparison it made (or why it made none)."""
    figures = outcome.holdout.gate_figures()
    comparison = outcome.comparison
    metadata = {
        **{name: MetadataValue.text(f"{value:.4f}" if value is not None else "not measurable")
           for name, value in figures.items()},
        "floors": MetadataValue.json({"macro_f1": floors.macro_f1, "event_recall": floors.event_recall,
                                      "alarm_precision": floors.alarm_precision,
                                      "champion_tolerance": floors.champion_tolerance}),
        "comparison": MetadataValue.text(comparison.note),
        "candidate_version": MetadataValue.text(candidate),
        "champion_version": MetadataValue.text(champion_now or "none"),
        "mlflow_run": MetadataValue.url(run_link),
    }
    if comparison.champion is not None and comparison.challenger is not None:
        metadata["champion_macro_f1"] = MetadataValue.float(round(comparison.champion.rows.macro_f1, 4))
        metadata["candidate_macro_f1_same_rows"] = MetadataValue.float(round(comparison.challenger.rows.macro_f1, 4))
        metadata["compared_from"] = MetadataValue.text(str(comparison.rows_from))
    return metadata
