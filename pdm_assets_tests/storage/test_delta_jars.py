"""Delta Lake's jars: the locked set is what Maven resolution gives, and without them and without network the error is clear."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from pdm_assets.storage import delta_jars


def _compile_dependencies(ivy, coordinate: str) -> set[str]:
    """What Ivy's cached module descriptors say a coordinate pulls in at run time, itself included.

    Spark's own artifacts and the Scala library are left out, as Spark's package resolution does
    (they are on its classpath already).
    """
    group, artifact, version = coordinate.split(":")
    found = {coordinate}
    descriptor = (ivy / "cache" / group / artifact / f"ivy-{version}.xml").read_text()
    for dep in re.finditer(r'<dependency org="([^"]+)" name="([^"]+)" rev="([^"]+)"[^>]*conf="([^"]+)"', descriptor):
        org, name, rev, conf = dep.groups()
        if conf.startswith("compile") and org not in ("org.scala-lang", "org.apache.spark"):
            found |= _compile_dependencies(ivy, f"{org}:{name}:{rev}")
    return found


def test_the_locked_jars_are_what_resolution_gives_and_sessions_use_the_cache(spark):
    locked = delta_jars.RESOLVED[delta_jars.delta_version()]
    # the shared session has started: resolution (or an earlier run) put the jars in the cache
    assert delta_jars.cached_jars() is not None
    assert _compile_dependencies(delta_jars.ivy_home(), delta_jars.package()) == set(locked)
    conf = delta_jars.session_conf()
    assert "spark.jars.packages" not in conf and conf["spark.jars"].count(".jar") == len(locked)
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"


@pytest.mark.slow
def test_without_the_jars_and_without_network_the_error_says_what_is_missing(tmp_path):
    settings = tmp_path / "ivysettings.xml"  # a resolver that answers nothing: no network
    settings.write_text('<ivysettings><settings defaultResolver="none"/><resolvers>'
                        '<ibiblio name="none" m2compatible="true" root="http://127.0.0.1:9/maven2/"/>'
                        '</resolvers></ivysettings>')
    script = textwrap.dedent(f"""
        from pdm_assets.storage.spark_session import create_spark_session
        from pdm_assets.storage.errors import DeltaJarsUnavailableError
        try:
            create_spark_session("local[1]", extra_conf={{"spark.jars.ivySettings": {str(settings)!r}}})
        except DeltaJarsUnavailableError as err:
            print("CLEAR:", err)
            raise SystemExit(3)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PDM_IVY_HOME": str(tmp_path / "empty-ivy"),
           **{k: v for k, v in os.environ.items() if k in ("JAVA_HOME", "PATH")}}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 3, done.stdout + done.stderr[-3000:]
    message = done.stdout
    assert delta_jars.package() in message and "could not be downloaded" in message
    assert str(tmp_path / "empty-ivy" / "jars") in message
    assert "first Spark session with Delta Lake" in done.stderr  # it said what it was about to fetch
