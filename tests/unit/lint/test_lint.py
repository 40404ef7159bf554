"""perdure.lint's API: suppression comments, positions, files, errors, and its imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from perdure.lint import RULES, lint_paths, lint_source, python_files

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "src" / "perdure" / "lint"

HANDLER = """\
import time
import perdure

svc = perdure.Service("S")


@svc.handler()
async def h(ctx: perdure.Context) -> object:
    return {body}
"""


def codes(body: str) -> list[tuple[int, str]]:
    findings, handlers = lint_source(HANDLER.format(body=body))
    assert handlers == 1
    return [(f.line, f.code) for f in findings]


def test_a_handler_line_is_reported_without_a_suppression() -> None:
    assert codes("time.time()") == [(9, "PD101")]


@pytest.mark.parametrize(
    "comment",
    ["# perdure: allow[PD101]", "#perdure:allow[pd101]", "# perdure: allow[PD105, PD101]"],
)
def test_a_suppression_comment_silences_its_codes_on_its_line(comment: str) -> None:
    assert codes(f"time.time()  {comment}") == []


def test_a_suppression_of_another_code_silences_nothing() -> None:
    assert codes("time.time()  # perdure: allow[PD105]") == [(9, "PD101")]


def test_a_suppression_applies_to_its_own_line_only() -> None:
    source = HANDLER.format(body="time.time()") + "# perdure: allow[PD101]\n"
    findings, _ = lint_source(source)
    assert [f.code for f in findings] == ["PD101"]


def test_a_marker_inside_a_string_is_not_a_suppression() -> None:
    assert codes('(time.time(), "# perdure: allow[PD101]")') == [(9, "PD101")]


def test_columns_are_one_based_characters() -> None:
    findings, _ = lint_source(HANDLER.format(body='("ünïcode", time.time())'))
    line = HANDLER.format(body='("ünïcode", time.time())').splitlines()[8]
    assert [(f.line, f.column) for f in findings] == [(9, line.index("time.time") + 1)]


def test_a_function_that_is_no_handler_is_not_checked() -> None:
    source = "import time\n\ndef helper():\n    return time.time()\n"
    assert lint_source(source) == ([], 0)


def test_a_syntax_error_raises() -> None:
    with pytest.raises(SyntaxError):
        lint_source("def broken(:\n")


def test_lint_paths_reports_a_file_it_cannot_parse_and_checks_the_others(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("x = 1\ndef broken(:\n")
    (tmp_path / "ok.py").write_text(HANDLER.format(body="time.time()"))
    report = lint_paths([tmp_path])
    assert report.files == 2
    assert report.handlers == 1
    assert [(e.path, e.line) for e in report.errors] == [(str(tmp_path / "bad.py"), 2)]
    assert report.errors[0].text().startswith(f"{tmp_path / 'bad.py'}:2:")
    assert "syntax error" in report.errors[0].message
    assert [f.code for f in report.findings] == ["PD101"]


def test_lint_paths_reports_a_file_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00garbage")
    report = lint_paths([tmp_path])
    assert len(report.errors) == 1
    assert report.errors[0].path == str(tmp_path / "binary.py")


def test_lint_paths_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        lint_paths([tmp_path / "nope"])


def test_python_files_walks_folders_in_order_and_skips_hidden_and_caches(tmp_path: Path) -> None:
    for name in ["b.py", "a.py", "sub/c.py", ".venv/x.py", "sub/__pycache__/y.py", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "script").write_text("")
    files = python_files([tmp_path, tmp_path / "a.py", tmp_path / "script"])
    assert files == [
        tmp_path / "a.py",
        tmp_path / "b.py",
        tmp_path / "sub" / "c.py",
        tmp_path / "script",  # a file named explicitly is linted whatever its name
    ]


def test_the_examples_are_clean_and_all_their_handlers_are_checked() -> None:
    """examples/ must stay clean. Every handler decorator in them must be found (counted
    independently, by text), or a clean report would prove nothing."""
    examples = REPO / "examples"
    report = lint_paths([examples])
    assert report.errors == []
    assert [f.text() for f in report.findings] == []
    decorator = re.compile(r"^\s*@[\w.]*\b(handler|main)\(", re.MULTILINE)
    declared = sum(len(decorator.findall(p.read_text())) for p in examples.glob("*.py"))
    assert declared > 0
    assert report.handlers == declared


def test_the_package_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"perdure"}
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"
                if name.startswith("perdure"):
                    assert name.startswith("perdure.lint"), f"{module.name} imports {name}"


def test_importing_the_linter_loads_no_server_or_store() -> None:
    code = (
        "import sys, perdure.lint\n"
        "print(sorted(m for m in sys.modules if m.startswith(('perdure.server', 'perdure.store'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_docs_show_every_code() -> None:
    docs = (REPO / "docs" / "lint.md").read_text()
    for code in RULES:
        assert f"### {code} " in docs, f"docs/lint.md has no section for {code}"
