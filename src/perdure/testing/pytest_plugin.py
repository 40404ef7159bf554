"""pytest plugin (entry point `perdure` in the `pytest11` group): the `perdure_harness`
fixture.

    @pytest.fixture
    def perdure_app():
        return my_services.app

    async def test_sign_up(perdure_harness):
        handle = await perdure_harness.client.workflow(SignUp, "ann").submit(user)
        await perdure_harness.advance(timedelta(days=1))

`perdure_harness` is a started `perdure.testing.Harness` of the app the `perdure_app`
fixture returns (define it in the test module or a conftest), on a store under the test's
`tmp_path`; it is closed after the test. Async fixtures need pytest-asyncio (or another
plugin that runs them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from perdure.testing.harness import Harness

F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(fn: F) -> F:
    """pytest-asyncio's fixture decorator (works in its strict and auto modes)."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - then only another async plugin can run it
        return cast(F, pytest.fixture(fn))
    return cast(F, pytest_asyncio.fixture(fn))


@pytest.fixture
def perdure_app() -> Any:
    """Override it: the app (`perdure.app(...)`) that `perdure_harness` runs."""
    raise pytest.UsageError(
        "perdure_harness needs the app to run: define a `perdure_app` fixture that returns "
        "it, e.g. `@pytest.fixture\\ndef perdure_app(): return my_module.app`"
    )


@_async_fixture
async def perdure_harness(perdure_app: Any, tmp_path: Path) -> AsyncIterator[Harness]:
    """A started harness of `perdure_app` on a store under `tmp_path`."""
    # Imported here: pytest loads the plugin in every session, most never use the server.
    from perdure.testing.harness import Harness

    async with Harness(perdure_app, data_dir=tmp_path / "perdure") as harness:
        yield harness
