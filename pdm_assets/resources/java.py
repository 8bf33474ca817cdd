"""Find Java and fail with a clear message when it is missing or older than PySpark 4 needs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

MIN_JAVA = 17


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime for the embedded Spark."""


def java_major_version() -> tuple[int, str]:
    """Return (major version, path) of the `java` Spark will start; raise a readable error otherwise."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaNotFoundError(
            f"PySpark 4 needs Java {MIN_JAVA} or newer, and no `java` was found "
            f"({'JAVA_HOME=' + java_home if java_home else 'not on PATH'}). "
            "Install one, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise JavaNotFoundError(f"Could not read the Java version from `{java} -version`: {text.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major, java


def require_java() -> None:
    """Raise JavaNotFoundError unless Java >= 17 is available."""
    major, java = java_major_version()
    if major < MIN_JAVA:
        raise JavaNotFoundError(
            f"PySpark 4 needs Java {MIN_JAVA} or newer; {java} is Java {major}. "
            "Install openjdk-17 (or newer) and point JAVA_HOME at it."
        )
