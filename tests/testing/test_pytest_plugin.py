"""The `perdure_harness` fixture from perdure's pytest plugin, in a pytest run of its own."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TEST_FILE = """
from datetime import timedelta

import pytest

import perdure

reminders = perdure.Service("Reminders")


@reminders.handler()
async def later(ctx: perdure.Context, text: str) -> str:
    await ctx.sleep(timedelta(days=2))
    return text


@pytest.fixture
def perdure_app():
    return perdure.app([reminders])


async def test_two_days_later(perdure_harness):
    handle = await perdure_harness.client.send(later, "hi")
    await perdure_harness.advance(timedelta(days=2))
    assert (await perdure_harness.wait_completed(handle.invocation_id)).result == "hi"
    assert await handle.attach() == "hi"
"""

WITHOUT_APP = """
async def test_without_an_app(perdure_harness):
    pass
"""


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"perdure": "perdure.testing.pytest_plugin"}


def test_the_fixture_runs_a_harness_of_the_app(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(TEST_FILE)
    (tmp_path / "test_no_app.py").write_text(WITHOUT_APP)
    installed = any(
        ep.value == "perdure.testing.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    # Once installed (pip install -e .), the entry point loads the plugin by itself.
    plugin = [] if installed else ["-p", "perdure.testing.pytest_plugin"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "test_app.py", "test_no_app.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert "1 passed" in out and "1 error" in out, out
    assert "define a `perdure_app` fixture" in out, out
