"""A saved PipelineModel loaded over Spark Connect scores, and is gone from the server once released."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pdm_assets.tools.connect_server import connect_server

pytestmark = pytest.mark.slow  # a Spark Connect server of its own

# argv: the server's address, a folder for the model. A client process: this test process has an embedded JVM.
CLIENT = textwrap.dedent("""
    import json, sys
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession
    from pdm_assets.pipeline.model_io import load_pipeline_model, release_remote_model

    spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
    rows = spark.createDataFrame([(float(i), float(i % 2)) for i in range(20)], "x double, label double")
    stages = [VectorAssembler(inputCols=["x"], outputCol="features"), LogisticRegression(maxIter=5)]
    Pipeline(stages=stages).fit(rows).write().overwrite().save(sys.argv[2])
    model = load_pipeline_model(sys.argv[2], spark)
    scored = model.transform(rows).count()
    released = release_remote_model(model, spark)
    try:
        model.transform(rows).count()
        after = "still scores"
    except Exception as err:
        after = type(err).__name__ + ": " + str(err)[:300]
    print(json.dumps({"scored": scored, "released": released, "after": after}))
""")


def test_a_released_model_is_gone_from_the_connect_server_s_ml_cache(tmp_path):
    with connect_server(tmp_path / "connect") as remote:
        env = {k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"}
        done = subprocess.run([sys.executable, "-c", CLIENT, remote, str(tmp_path / "model")], env=env,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # both stages (the assembler and the fitted regression) are objects the server keeps for the client
    assert found["scored"] == 20 and found["released"] == 2, found
    assert "CACHE_INVALID" in found["after"], found
