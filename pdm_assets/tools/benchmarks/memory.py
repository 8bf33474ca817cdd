"""Peak resident memory of this process and of the Spark JVM it started, from /proc."""
from __future__ import annotations

import os
from pathlib import Path


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


def peak_memory_mib() -> dict[str, float]:
    """{'python': MiB, 'jvm': MiB} high-water marks (VmHWM) so far."""
    me = os.getpid()
    jvms = [c for c in _children(me) if "java" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="ignore")]
    return {"python": _peak_kib(me) / 1024, "jvm": sum(_peak_kib(j) for j in jvms) / 1024}
