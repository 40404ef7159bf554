"""The `store` fixture: one contract suite, run against every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from perdure.store.api import Store
from perdure.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore.open(tmp_path / "data")
    else:  # pragma: no cover - PostgreSQL joins here
        raise NotImplementedError(request.param)
    try:
        yield opened
    finally:
        await opened.close()
