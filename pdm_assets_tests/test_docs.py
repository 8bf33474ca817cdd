"""The commands in README.md and docs/ are true: each project command and option exists in its `--help`."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from pdm_assets_tests.conftest import REPO

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SEPARATORS = {"&&", "||", "|", ";", "&"}
# command head -> how many words name the (sub)command whose --help lists the options
PROJECT_COMMANDS = {"pdm-simulate": 2, "pdm-demo": 1, "pdm-connect-server": 1, "dagster": 3}
FENCE = re.compile(r"^```(\w*)\s*$")


def _bash_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line inside a ```bash block."""
    lines, inside = [], False
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        fence = FENCE.match(text.strip())
        if fence:
            inside = not inside and fence.group(1) in ("bash", "sh", "shell")
            continue
        if inside and text.strip():
            lines.append((number, text))
    return lines


def _segments(text: str) -> list[list[str]]:
    """The simple commands of one shell line (`a && b | c &`), comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    segments, current = [], []
    for token in lexer:
        if token in SEPARATORS:
            segments.append(current)
            current = []
        else:
            current.append(token)
    return [s for s in segments + [current] if s]


def _project_command(words: list[str]) -> tuple[list[str], list[str]] | None:
    """(the command to ask for --help, the options the doc passes), or None if it is not ours."""
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return None
    head = words[0].removeprefix(".venv/bin/")
    if head in ("python", "python3") and words[1:2] == ["-m"] and words[2].startswith("pdm_assets."):
        command, rest = [sys.executable, "-m", words[2]], words[3:]
    elif head == "dagster" and words[1:3] == ["asset", "materialize"]:
        command, rest = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize"], words[3:]
    elif head in PROJECT_COMMANDS and head != "dagster":
        taken = PROJECT_COMMANDS[head]
        command = [str(Path(sys.executable).parent / head), *words[1:taken]]
        rest = words[taken:]
    else:
        return None
    return command, [w.split("=", 1)[0] for w in rest if w.startswith("--")]


def _documented_commands() -> dict[tuple[str, ...], list[tuple[str, list[str]]]]:
    """command -> [(where, options)] over every doc page."""
    found: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for path in DOC_FILES:
        for number, text in _bash_lines(path):
            for words in _segments(text):
                parsed = _project_command(words)
                if parsed:
                    command, options = parsed
                    found.setdefault(tuple(command), []).append((f"{path.name}:{number}", options))
    return found


@cache
def _help(command: tuple[str, ...]) -> str:
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, f"{' '.join(command)} --help failed: {done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.slow
def test_every_documented_command_and_option_exists():
    documented = _documented_commands()
    assert any("pdm-demo" in c[0] for c in documented), "the README's main command was not found"
    with ThreadPoolExecutor(max_workers=2) as pool:  # each --help is a Python start-up
        helps = dict(zip(documented, pool.map(_help, documented)))
    wrong = [
        f"{where}: {' '.join(Path(command[0]).name if i == 0 else w for i, w in enumerate(command))} {option}"
        for command, uses in documented.items() for where, options in uses for option in options
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", helps[command])
    ]
    assert not wrong, "options the --help does not know:\n" + "\n".join(wrong)


def test_the_command_finder_reads_shell_lines_as_a_user_types_them():
    line = "export PDM_HOME=/x && .venv/bin/pdm-simulate append --days 3 --until=yesterday & # note --not-this"
    found = [_project_command(words) for words in _segments(line)]
    assert found[0] is None
    command, options = found[1]
    assert Path(command[0]).name == "pdm-simulate" and command[1:] == ["append"]
    assert options == ["--days", "--until"]
    command, options = _project_command(_segments("python -m pdm_assets.tools.benchmarks.scoring --home <PDM_HOME>")[0])
    assert command[1:] == ["-m", "pdm_assets.tools.benchmarks.scoring"] and options == ["--home"]
