"""Load a saved PipelineModel from a folder on this machine, its stages side by side (embedded or Spark Connect)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel


def load_pipeline_model(path: str, session) -> "PipelineModel":
    """`PipelineModel.load` of a model folder on this machine, with the stages read concurrently.

    Each stage is its own folder, loaded with a few small Spark jobs: side by side they cost about
    the slowest stage instead of the sum. Which class loads each stage is read from its metadata
    file with Python, not with a Spark job (the figures are in docs/benchmarks.md).
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.ml import PipelineModel
    from pyspark.ml.pipeline import PipelineSharedReadWrite

    metadata = _saved_metadata(path)
    uids = metadata["paramMap"]["stageUids"]
    folders = [PipelineSharedReadWrite.getStagePath(uid, i, len(uids), os.path.join(path, "stages"))
               for i, uid in enumerate(uids)]

    def load_stage(folder: str):
        if is_connect(session):
            # Connect ML wrappers look up the thread's active session (a thread-local): make it ours.
            type(session)._set_default_and_active_session(session)
        return _stage_class(_saved_metadata(folder)).load(folder)

    with ThreadPoolExecutor(max_workers=max(1, len(folders)), thread_name_prefix="model-stage") as pool:
        stages = list(pool.map(load_stage, folders))
    return PipelineModel(stages=stages)._resetUid(metadata["uid"])


def release_remote_model(model: "PipelineModel", session) -> int:
    """Ask a Spark Connect server to drop a model's stages from its ML cache; how many were named (0 when embedded).

    pyspark 4.0 never removes a model the client no longer uses (its `__del__` is disabled), and the
    server keeps at most 100 objects per session, evicting by an approximate LRU: in a process that
    scores run after run on one session (a notebook, a test or benchmark session) a model loaded
    for the current run can be evicted while it is scoring. The client's own delete command (used
    by its session cleanup) is called directly: `remove_ml_cache` only knows ids of its own thread,
    and the stages are loaded in worker threads. Like the client's cleanup it is best effort: a
    failed delete is not reported (the server drops the objects with the session in any case).
    """
    if not is_connect(session):
        return 0
    ids = [stage._java_obj for stage in model.stages if isinstance(getattr(stage, "_java_obj", None), str)]
    if ids:
        session.client._delete_ml_cache(ids)
    return len(ids)


def _saved_metadata(folder: str) -> dict:
    """The metadata JSON an MLlib writer saved in `<folder>/metadata` (a one-line text file)."""
    import json

    parts = sorted(Path(folder, "metadata").glob("part-*"))
    if not parts:
        raise FileNotFoundError(f"No saved MLlib metadata in {Path(folder, 'metadata')}")
    return json.loads(parts[0].read_text(encoding="utf-8").splitlines()[0])


def _stage_class(metadata: dict) -> type:
    """The pyspark class that loads a saved stage, named as `DefaultParamsReader.loadParamsInstance` names it."""
    import importlib

    from pyspark.ml.util import DefaultParamsReader

    name = metadata["class"]
    if not DefaultParamsReader.isPythonParamsInstance(metadata):
        name = name.replace("org.apache.spark", "pyspark")
    module, _, cls = name.rpartition(".")
    return getattr(importlib.import_module(module), cls)


def is_connect(session) -> bool:
    """Whether `session` is a Spark Connect client session."""
    return type(session).__module__.startswith("pyspark.sql.connect")
