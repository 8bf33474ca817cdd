"""failure_predictions: idempotent days, lineage, pinned versions, clear model errors, re-scoring sensors."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from dagster import AssetSelection, SensorResult, build_sensor_context, materialize

from pdm_assets.deployments import Settings
from pdm_assets.definitions import build_definitions
from pdm_assets.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags
from pdm_assets.pipeline.scoring import PROBABILITY_COLUMNS
from pdm_assets.resources.mlflow import CHAMPION
from pdm_assets.storage.delta_store import DeltaTableStore
from pdm_assets_tests.assets.helpers import check_outcomes, failure_message, metadata, row_counts, train

# Dagster runs of the Spark assets: minutes in all, so outside the quick loop (-m 'not slow').
pytestmark = pytest.mark.slow

SMALL_FOREST = '{"numTrees": 10, "maxDepth": 5}'
D1, D2, D3 = date(2015, 3, 10), date(2015, 3, 11), date(2015, 3, 12)


def _champion(defs, instance) -> str:
    """The champion version, training one first if the registry has none yet."""
    mlflow_res = defs.resources["mlflow"]
    if mlflow_res.champion() is None:
        result = train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 0.0})
        assert result.success, failure_message(result)
    return str(mlflow_res.champion().version)


def _score(defs, instance, first: date, last: date, config: dict | None = None):
    return materialize(
        list(defs.assets), selection=AssetSelection.keys("failure_predictions"), resources=defs.resources,
        instance=instance, raise_on_error=False, tags=range_tags(first, last),
        run_config={"ops": {"failure_predictions": {"config": config or {}}}},
    )


def _logged(instance, result, text: str) -> bool:
    return any(text in (record.user_message or "") for record in instance.all_logs(result.run_id))


def _rows(spark, settings, days, table="failure_predictions"):
    frame = DeltaTableStore.local(settings.warehouse).read(spark, table, days).drop("scored_at")
    return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in frame.collect())


def test_scoring_a_range_twice_gives_the_same_rows_with_lineage_and_passing_checks(labelled, spark):
    defs, instance, settings = labelled
    version = _champion(defs, instance)
    first = _score(defs, instance, D1, D2)
    assert first.success, failure_message(first)
    rows = _rows(spark, settings, [D1, D2])
    again = _score(defs, instance, D1, D2)
    assert again.success, failure_message(again)
    assert _rows(spark, settings, [D1, D2]) == rows
    # The champion was loaded in the background from the run's start, and that model scored.
    assert _logged(instance, again, f"Loading test_failure_model version {version} in the background")
    assert _logged(instance, again, f"Version {version} was loaded in the background")
    assert len(rows) == 10 * 8 * 2 == len({(r[0], r[1]) for r in rows})  # machines x grid points x days
    outcomes = check_outcomes(again)
    assert outcomes[("failure_predictions", "one_prediction_per_feature_row")]
    assert outcomes[("failure_predictions", "probabilities_valid")]
    assert ("failure_predictions", "feature_drift") in outcomes
    assert row_counts(again, "failure_predictions") == {D1.isoformat(): 80, D2.isoformat(): 80}
    meta = metadata(again, "failure_predictions")
    assert meta["model_version"] == version and meta["model_name"] == "test_failure_model"
    frame = DeltaTableStore.local(settings.warehouse).read(spark, "failure_predictions", [D1])
    assert {r["model_version"] for r in frame.select("model_version").distinct().collect()} == {version}
    assert set(PROBABILITY_COLUMNS) <= set(frame.columns)


def test_a_pinned_version_scores_into_the_configured_table(labelled, spark):
    defs, instance, settings = labelled
    champion = _champion(defs, instance)
    other = train(defs, instance, {"classifier": "decision_tree", "hyperparameters": '{"maxDepth": 3}',
                                   "min_macro_f1": 1.01}, selection="key:failure_model")  # never crowned
    pinned = metadata(other, "failure_model")["model_version"]
    assert pinned != champion
    result = _score(defs, instance, D3, D3, {"model_version": pinned, "results_table": "pinned_predictions"})
    assert result.success, failure_message(result)
    stored = DeltaTableStore.local(settings.warehouse).read(spark, "pinned_predictions", [D3])
    assert {r["model_version"] for r in stored.select("model_version").collect()} == {pinned}
    assert metadata(result, "failure_predictions")["model_pinned"] is True
    # The run preloaded the champion; the pinned version is not it, so the step loaded its own.
    assert _logged(instance, result, f"Loading test_failure_model version {champion} in the background")
    assert not _logged(instance, result, "was loaded in the background")


def test_stages_loaded_side_by_side_make_the_same_model(labelled, spark):
    from pyspark.ml import PipelineModel

    from pdm_assets.pipeline.model_io import load_pipeline_model
    from pdm_assets.resources.mlflow import _local_model_folder

    defs, instance, settings = labelled
    version = _champion(defs, instance)
    defs.resources["mlflow"].activate()
    folder = str(_local_model_folder(f"models:/test_failure_model/{version}") / "sparkml")
    serial, side_by_side = PipelineModel.load(folder), load_pipeline_model(folder, spark)
    assert side_by_side.uid == serial.uid
    assert [s.uid for s in side_by_side.stages] == [s.uid for s in serial.stages]
    features = DeltaTableStore.local(settings.warehouse).read(spark, "machine_features", [D1, D2])
    columns = ["machine_id", "timestamp", "predicted_failure", "probability"]
    assert sorted(side_by_side.transform(features).select(*columns).collect()) == \
        sorted(serial.transform(features).select(*columns).collect())


def test_a_missing_model_or_version_fails_naming_the_registered_model(labelled):
    defs, instance, settings = labelled
    _champion(defs, instance)
    missing_version = _score(defs, instance, D1, D1, {"model_version": "999"})
    assert not missing_version.success
    assert "Registered model 'test_failure_model' has no version 999" in failure_message(missing_version)
    other = build_definitions(Settings.from_env({"PDM_HOME": str(settings.home), "PDM_START_DATE": "2015-01-01",
                                                 "PDM_END_DATE": "2015-04-01", "PDM_MODEL_NAME": "absent_model"}))
    absent = _score(other, instance, D1, D1)
    assert not absent.success and "No registered model 'absent_model'" in failure_message(absent)


def test_moving_the_champion_requests_re_scoring_of_the_recent_and_the_stale_days(labelled):
    defs, instance, settings = labelled
    champion = _champion(defs, instance)
    assert _score(defs, instance, D1, D2).success
    sensors = {s.name: s for s in defs.sensors}
    resources = {"mlflow": defs.resources["mlflow"], "tables": defs.resources["tables"]}

    def tick(name: str, cursor=None) -> tuple[list, str | None]:
        """(run requests, new cursor) of one evaluation."""
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                  definitions=defs, sensor_name=name) as context:
            out = sensors[name](context)
        if isinstance(out, SensorResult):
            return list(out.run_requests or []), out.cursor if out.cursor is not None else cursor
        return (list(out) if isinstance(out, list) else []), cursor

    requests, cursor = tick("champion_sensor")
    assert requests == [] and cursor == champion  # first look: remembers, requests nothing
    assert tick("champion_sensor", cursor) == ([], champion)
    assert tick("stale_predictions_sensor")[0] == []  # everything scored by the champion

    mlflow_res = defs.resources["mlflow"]
    challenger = metadata(train(defs, instance, {"hyperparameters": SMALL_FOREST, "min_macro_f1": 1.01},
                                selection="key:failure_model"), "failure_model")["model_version"]
    mlflow_res.client().set_registered_model_alias(mlflow_res.model_name, CHAMPION, challenger)
    try:
        moved, cursor = tick("champion_sensor", cursor)
        assert cursor == challenger
        [request] = moved  # the last 7 featured days, one contiguous range: one run
        assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2015-03-25", "2015-03-31")
        stale = tick("stale_predictions_sensor")[0]
        ranges = sorted((r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in stale)
        assert ("2015-03-10", "2015-03-11") in ranges  # the days this test scored with the old champion
    finally:
        mlflow_res.client().set_registered_model_alias(mlflow_res.model_name, CHAMPION, champion)


def test_a_challenger_scores_the_same_days_beside_the_champion_and_is_judged_with_it(labelled, spark):
    defs, instance, settings = labelled
    champion = _champion(defs, instance)
    mlflow_res = defs.resources["mlflow"]
    shadow = metadata(train(defs, instance, {"hyperparameters": '{"numTrees": 5, "maxDepth": 3}',
                                             "min_macro_f1": 1.01}, selection="key:failure_model"),
                      "failure_model")["model_version"]  # registered, refused by the gate: not the champion
    mlflow_res.client().set_registered_model_alias(mlflow_res.model_name, "challenger", shadow)
    shadowed = build_definitions(replace(settings, challenger="challenger"))
    run = materialize(list(shadowed.assets), resources=shadowed.resources, instance=instance, raise_on_error=False,
                      selection=AssetSelection.keys("failure_predictions", "challenger_predictions",
                                                    "maintenance_alerts", "prediction_outcomes"),
                      tags=range_tags(D1, D2))
    assert run.success, failure_message(run)
    store = DeltaTableStore.local(settings.warehouse)
    versions = {t: {r[0] for r in store.read(spark, t, [D1, D2]).select("model_version").distinct().collect()}
                for t in ("failure_predictions", "challenger_predictions", "maintenance_alerts")}
    assert versions == {"failure_predictions": {champion}, "challenger_predictions": {shadow},
                        "maintenance_alerts": {champion}}  # alerts come from the champion only
    judged = {(r["date"], r["model_version"]) for r in store.read(spark, "prediction_outcomes", [D1, D2]).collect()}
    assert judged == {(d, v) for d in (D1, D2) for v in (champion, shadow)}
    compared = metadata(run, "prediction_outcomes")["versions_compared"]
    assert f"| {champion} | 2 |" in compared and f"| {shadow} | 2 |" in compared
    decay = {e.check_name: e for e in run.get_asset_check_evaluations()}["model_decay"]
    assert decay.metadata["model_version"].value == champion  # the check watches the champion, not the shadow
    with pytest.raises(Exception, match="no version with the alias 'nobody'"):
        mlflow_res.resolve_reference("nobody")
