"""Loaded before any suite's conftest: makes the shared test support (tests/support) importable
as `tests.support` (`python -m pytest` from the repository root puts the root on sys.path, plain
`pytest` in importlib import mode does not), and attaches to a failing test's report what the
processes a fixture named (`tests.support.logs.remember_log_offsets`) logged during it.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import pytest  # noqa: E402

from tests.support.logs import attach_logs  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    attach_logs(item, report)
    return report
