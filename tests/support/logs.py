"""A failing test's report carries what the servers and endpoints logged during it."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from .process import ManagedProcess

_LOG_MARKS = pytest.StashKey[list[tuple[ManagedProcess, int]]]()


def remember_log_offsets(
    request: pytest.FixtureRequest, processes: Iterable[ManagedProcess | None]
) -> None:
    """Call from a fixture: where each process's log stands as the test starts."""
    request.node.stash[_LOG_MARKS] = [(p, p.log_size()) for p in processes if p is not None]


def attach_logs(
    item: pytest.Item,
    report: pytest.TestReport,
    *,
    phases: tuple[str, ...] = ("setup", "call"),
    title: str = "{} log during the test",
    limit: int = 20_000,
) -> None:
    """Called by tests/conftest.py's `pytest_runtest_makereport`: logs into a failed report."""
    if not report.failed or report.when not in phases:
        return
    for process, offset in item.stash.get(_LOG_MARKS, []):
        text = process.log_text(offset, limit=limit) or "(nothing)"
        report.sections.append((title.format(process.name), text))
