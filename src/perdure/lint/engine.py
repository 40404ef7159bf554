"""Linting files: collect the Python files, parse each, check its handlers, drop what a
suppression comment allows, and say where each finding is."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from perdure.lint.checker import RawFinding, check_handler
from perdure.lint.facts import ModuleFacts
from perdure.lint.handlers import find_handlers
from perdure.lint.suppression import allowed_codes


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int  # 1-based, in characters
    code: str
    rule: str
    message: str
    fix: str
    handler: str

    def text(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: {self.code} {self.message} — fix: {self.fix}"
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FileError:
    """A file that could not be checked: unreadable, not text, or not valid Python."""

    path: str
    line: int
    column: int
    message: str

    def text(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: error: {self.message}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Report:
    files: int = 0
    handlers: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "files": self.files,
            "handlers": self.handlers,
            "findings": [f.to_json() for f in self.findings],
            "errors": [e.to_json() for e in self.errors],
        }


def lint_source(source: str, path: str = "<string>") -> tuple[list[Finding], int]:
    """The findings in one module's source, and how many handlers it has.

    Raises SyntaxError when `source` is not valid Python.
    """
    tree = ast.parse(source, filename=path)
    module = ModuleFacts.of(tree)
    handlers = find_handlers(tree, module.resolver)
    raw = [finding for handler in handlers for finding in check_handler(handler, module)]
    allowed = allowed_codes(source) if raw else {}
    lines = source.splitlines()
    findings = {
        _locate(path, lines, r) for r in raw if r.rule.code not in allowed.get(r.line, frozenset())
    }
    return sorted(findings, key=lambda f: (f.line, f.column, f.code)), len(handlers)


def lint_paths(paths: Iterable[str | Path]) -> Report:
    """Lint files and the ``*.py`` files under directories. A path that does not exist
    raises FileNotFoundError; a file that cannot be read or parsed becomes an error of the
    report, and the others are still checked."""
    report = Report()
    for file in python_files(paths):
        report.files += 1
        try:
            source = importlib.util.decode_source(file.read_bytes())
        except (OSError, UnicodeDecodeError, SyntaxError) as e:
            report.errors.append(FileError(str(file), 1, 1, f"cannot read: {e}"))
            continue
        try:
            findings, handlers = lint_source(source, str(file))
        except SyntaxError as e:
            report.errors.append(
                FileError(str(file), e.lineno or 1, e.offset or 1, f"syntax error: {e.msg}")
            )
            continue
        report.handlers += handlers
        report.findings.extend(findings)
    return report


def python_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to lint, in a stable order: each file given, and the ``*.py`` files
    under each directory given (hidden folders and ``__pycache__`` left out)."""
    found: dict[Path, None] = {}
    for given in map(Path, paths):
        if given.is_dir():
            for file in sorted(given.rglob("*.py")):
                inside = file.relative_to(given).parts[:-1]
                if file.is_file() and not any(_skipped(part) for part in inside):
                    found.setdefault(file)
        elif given.exists():
            found.setdefault(given)
        else:
            raise FileNotFoundError(f"no such file or directory: {given}")
    return list(found)


def _skipped(folder: str) -> bool:
    return folder.startswith(".") or folder == "__pycache__"


def _locate(path: str, lines: list[str], raw: RawFinding) -> Finding:
    text = lines[raw.line - 1] if 0 < raw.line <= len(lines) else ""
    column = len(text.encode()[: raw.col_offset].decode(errors="ignore")) + 1
    return Finding(
        path=path,
        line=raw.line,
        column=column,
        code=raw.rule.code,
        rule=raw.rule.name,
        message=raw.message,
        fix=raw.rule.fix,
        handler=raw.handler,
    )
