"""Record the Spark driver's class archive now (storage/jvm_archive.py), in a short session of typical work.

    python -m pdm_assets.tools.record_jvm_archive

Without it the first embedded session records the archive as it exits; the tests call this before
their first session so that every JVM they start maps it.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from pdm_assets.storage import jvm_archive


def record_now() -> Optional[Path]:
    """The archive's path once it exists (recorded here when missing), or None when there is none to map."""
    from pdm_assets.storage.spark_session import driver_identity

    for _ in range(2):  # a first session may only fetch Delta's jars: the archive is named after the cached files
        identity = driver_identity()  # None until the jars are cached
        if identity is not None and not jvm_archive.may_record(identity):
            break
        subprocess.run([sys.executable, "-m", __spec__.name if __spec__ else "pdm_assets.tools.record_jvm_archive",
                        "--session"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    archive = jvm_archive.archive_path(driver_identity())
    return archive if archive is not None and jvm_archive.is_archive(archive) else None


def _typical_session() -> None:
    """What most runs load: CSV text parsed, a windowed aggregate, a Delta table written and read, an MLlib fit."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from pdm_assets.storage.spark_session import create_spark_session

    spark = create_spark_session(master="local[1]", shuffle_partitions=1)
    with tempfile.TemporaryDirectory(prefix="pdm_jvm_archive_") as scratch:
        csv = Path(scratch) / "rows.csv"
        csv.write_text("id,kind,value\n" + "".join(f"{i},{'ab'[i % 2]},{i * 0.5}\n" for i in range(40)))
        text = spark.read.text(str(csv), wholetext=True).select(F.explode(F.split("value", "\n")).alias("line"))
        cells = text.where(F.col("line") != "").select(F.split("line", ",").alias("c"))
        rows = cells.select(F.col("c")[0].try_cast("int").alias("id"), F.col("c")[1].alias("kind"),
                            F.col("c")[2].try_cast("double").alias("value")).where(F.col("id").isNotNull())
        rows = rows.withColumn("date", F.to_date(F.timestamp_seconds(F.col("id") * 86_400)))
        window = Window.partitionBy("kind").orderBy("id").rangeBetween(-3, 0)
        rows.select("*", F.sum("value").over(window).alias("rolling")).groupBy("kind").agg(F.max("rolling")).collect()
        table = str(Path(scratch) / "table")
        rows.write.format("delta").partitionBy("date").save(table)
        stored = spark.read.format("delta").load(table)
        model = Pipeline(stages=[StringIndexer(inputCol="kind", outputCol="label"),
                                 VectorAssembler(inputCols=["id", "value"], outputCol="features"),
                                 RandomForestClassifier(numTrees=2, maxDepth=2)]).fit(stored)
        model.transform(stored).select("probability").collect()
    spark.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--session"]:
        _typical_session()  # its JVM records the archive as this process exits
    else:
        path = record_now()
        print(path if path is not None else "no archive (PDM_JVM_ARCHIVE_DIR=off, a recent attempt failed, or the "
                                            "recording failed)")
