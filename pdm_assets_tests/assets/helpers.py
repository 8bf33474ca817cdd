"""Run asset selections over partition ranges in-process, against a real (temporary) instance."""
from __future__ import annotations

from datetime import date

from dagster import AssetSelection, Definitions, materialize

from pdm_assets.partitions import range_tags

# The shared labelled quarter (conftest.labelled): train on January-February, hold out March
# (up to March 30: March 31's labels look into April, outside the timeline, so they are never final).
TRAINING_WINDOW = {"train_months": 2, "holdout_months": 1, "train_start": "2015-01-01"}
# Ten machines over a month fail a handful of times: event figures that small are no floor to hold a model to.
TOY_FLOORS = {"min_event_recall": 0.0, "min_alarm_precision": 0.0}


def materialize_range(defs: Definitions, selection: str, first: date, last: date, instance):
    """One run over [first, last] for the selected assets (and their checks)."""
    return materialize(
        list(defs.assets),
        selection=AssetSelection.from_string(selection),
        resources=defs.resources,
        instance=instance,
        tags=range_tags(first, last),
        raise_on_error=False,
    )


def row_counts(result, asset: str) -> dict[str, int]:
    """{partition: dagster/row_count} of an asset's materializations in a run."""
    counts = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() == asset:
            counts[mat.partition] = mat.metadata["dagster/row_count"].value
    return counts


def check_outcomes(result) -> dict[tuple[str, str], bool]:
    """{(asset, check): passed} of a run."""
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }


def failure_message(result) -> str:
    """The error text of a failed run's failed steps."""
    parts = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None:
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)


def train(defs, instance, model: dict, window: dict = TRAINING_WINDOW, selection: str = "group:training"):
    """Materialize the training assets (or one of them) with the given model and window configuration."""
    config = {"training_set": {"config": window}, "failure_model": {"config": {**TOY_FLOORS, **model}}}
    return materialize(
        list(defs.assets), selection=AssetSelection.from_string(selection), resources=defs.resources,
        instance=instance, raise_on_error=False,
        run_config={"ops": {k: v for k, v in config.items() if k in selected(selection)}},
    )


def selected(selection: str) -> set[str]:
    """The training assets a selection string names."""
    return {"training_set", "failure_model"} if selection == "group:training" else {selection.removeprefix("key:")}


def metadata(result, asset: str) -> dict:
    """The metadata values of an asset's first materialization in a run."""
    mat = next(e.event_specific_data.materialization for e in result.get_asset_materialization_events()
               if e.event_specific_data.materialization.asset_key.to_user_string() == asset)
    return {k: v.value for k, v in mat.metadata.items()}
