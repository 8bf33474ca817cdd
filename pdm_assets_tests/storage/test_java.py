"""A missing or old Java gives a clear message, from the library and from `pdm-demo`."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pdm_assets.tools.demo import main as demo_main
from pdm_assets.storage.spark_session import JavaNotFoundError, java_major_version, require_java


def _fake_java(home: Path, version_line: str) -> Path:
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return home


def test_old_java_is_named_with_its_version(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')))
    with pytest.raises(JavaNotFoundError, match=r"needs Java 17 or newer; .*bin/java is Java 11"):
        require_java()


def test_java_8_style_versions_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, 'java version "1.8.0_292"')))
    assert java_major_version()[0] == 8


def test_missing_java_stops_the_demo_with_a_message_not_a_trace(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    assert demo_main([]) == 2
    err = capsys.readouterr().err
    assert "pdm-demo: PySpark 4 needs Java 17 or newer, and no `java` was found" in err
    assert "Traceback" not in err


def test_the_java_here_is_accepted():
    major, _ = java_major_version()
    assert major >= 17
    require_java()
