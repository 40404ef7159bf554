"""`perdure lint`: a static check that handler code is deterministic outside ``ctx.run``.

perdure replays a handler from its journal after a crash or a suspension, so what the
handler computes outside ``ctx.run`` must come out the same on every attempt. This package
finds the handler functions of a module (see `perdure.lint.handlers`) and flags what would
not (see `perdure.lint.rules` for the codes and docs/lint.md for examples). It is pure
standard library (`ast`, `tokenize`): it imports neither the SDK nor the server, and never
runs the code it checks.
"""

from __future__ import annotations

from perdure.lint.engine import FileError, Finding, Report, lint_paths, lint_source, python_files
from perdure.lint.rules import RULES, Rule

__all__ = [
    "RULES",
    "FileError",
    "Finding",
    "Report",
    "Rule",
    "lint_paths",
    "lint_source",
    "python_files",
]
