"""`perdure lint`: output, exit codes (0 clean, 1 findings, 2 usage) and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from perdure.cli.main import cli

BAD = """\
import random
import restate

svc = restate.Service("S")


@svc.handler()
async def h(ctx: restate.Context) -> int:
    return random.randint(1, 6)
"""
GOOD = BAD.replace("random.randint", "ctx.random().randint")


def lint(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.stdout, result.stderr


def test_clean_code_exits_0(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    status, out, err = lint(str(tmp_path))
    assert status == 0
    assert out == ""
    assert err == "no findings in 1 handler of 1 file\n"


def test_findings_exit_1_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    status, out, err = lint(str(tmp_path))
    assert status == 1
    assert out == (
        f"{bad}:9:12: PD102 `random.randint()` is unseeded: a replay gets other values"
        " — fix: use `ctx.random()`, seeded by the invocation\n"
    )
    assert err == "1 finding in 2 handlers of 2 files\n"


def test_json_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    status, out, _ = lint("--json", str(bad))
    assert status == 1
    report = json.loads(out)
    assert report["files"] == 1
    assert report["handlers"] == 1
    assert report["errors"] == []
    assert report["findings"] == [
        {
            "path": str(bad),
            "line": 9,
            "column": 12,
            "code": "PD102",
            "rule": "random",
            "message": "`random.randint()` is unseeded: a replay gets other values",
            "fix": "use `ctx.random()`, seeded by the invocation",
            "handler": "h",
        }
    ]


def test_a_syntax_error_exits_2_and_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import perdure\n\nasync def h(ctx:\n")
    (tmp_path / "bad.py").write_text(BAD)
    status, out, err = lint(str(tmp_path))
    assert status == 2
    assert out.startswith(f"{tmp_path / 'bad.py'}:9:12: PD102 ")  # the others still checked
    assert f"{broken}:3:" in err
    assert "error: syntax error:" in err


def test_a_syntax_error_with_json(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def broken(:\n")
    status, out, _ = lint("--json", str(broken))
    assert status == 2
    [error] = json.loads(out)["errors"]
    assert error["path"] == str(broken)
    assert error["line"] == 1
    assert error["message"].startswith("syntax error")


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    status, _, err = lint(str(tmp_path / "nope.py"))
    assert status == 2
    assert "does not exist" in err


def test_no_path_exits_2() -> None:
    status, _, err = lint()
    assert status == 2
    assert "Missing argument" in err


def test_the_installed_command_exits_with_the_status(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    done = subprocess.run(
        [sys.executable, "-c", "from perdure.cli.main import main; main()", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "PD102" in done.stdout
