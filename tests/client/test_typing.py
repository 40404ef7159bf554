"""The client's typed proxies are checked by mypy: right uses pass, wrong argument (and
result) types fail with the error marked next to them in typecheck/uses_wrong.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SNIPPETS = Path(__file__).resolve().parent / "typecheck"
_ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): error: (?P<message>.*)$", re.MULTILINE)
_EXPECT = re.compile(r"#\s*expect:\s*(?P<text>.+)$")


def run_mypy(snippet: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "mypy",
            "--config-file", "",  # the repository's config checks src/; this is one file
            "--strict",
            "--python-version", "3.11",
            "--cache-dir", str(cache_dir),
            "--show-error-codes",
            "--no-color-output",
            snippet,
        ],
        cwd=SNIPPETS,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_correct_uses_type_check(cache_dir: Path) -> None:
    result = run_mypy("uses_ok.py", cache_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_wrong_argument_types_fail(cache_dir: Path) -> None:
    result = run_mypy("uses_wrong.py", cache_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    reported: dict[int, list[str]] = {}
    for match in _ERROR.finditer(result.stdout):
        reported.setdefault(int(match["line"]), []).append(match["message"])
    expected: dict[int, str] = {}
    lines = (SNIPPETS / "uses_wrong.py").read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if found := _EXPECT.search(line):
            expected[number] = found["text"].strip()
    assert expected, "uses_wrong.py marks no expected errors"
    assert sorted(reported) == sorted(expected), result.stdout
    for number, text in expected.items():
        assert any(text in message for message in reported[number]), (
            f"uses_wrong.py:{number}: expected an error containing {text!r}, got {reported[number]}"
        )
    # The headline case of the acceptance criterion, spelled out.
    assert (
        'Argument 1 to "__call__" of "BoundHandler" has incompatible type "int"; expected "str"'
        in reported[13][0]
    )
