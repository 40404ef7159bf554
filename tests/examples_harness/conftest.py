"""The examples under `perdure.testing`: in-process, on virtual time, crashed on purpose.

    scripts/test tests/examples_harness

Each test module defines `perdure_app`; the `perdure_harness` fixture comes from perdure's
pytest plugin (imported here too, for a checkout whose installed metadata predates the
plugin's entry point). The examples' fake outside world writes under the test's folder.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from perdure.testing import Harness
from perdure.testing.pytest_plugin import perdure_app, perdure_harness  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:  # the examples' own `import fake_world`
    sys.path.insert(0, str(EXAMPLES))

import fake_world  # noqa: E402


@pytest.fixture(autouse=True)
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake world's folder for this test."""
    path = tmp_path / "world"
    monkeypatch.setenv(fake_world.DIR_ENV, str(path))
    return path


@pytest.fixture
def own_world(monkeypatch: pytest.MonkeyPatch) -> Callable[[Harness], None]:
    """For crash-exploration scenarios: each run's fake world in its own store's folder
    (every run starts from nothing, outside world included)."""

    def use(harness: Harness) -> None:
        monkeypatch.setenv(fake_world.DIR_ENV, str(harness.data_dir / "world"))

    return use
