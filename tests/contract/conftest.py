"""The `store` fixture: one contract suite, run against every backend.

`sqlite`: a fresh data directory. `postgres`: a fresh database in the test process's
throwaway PostgreSQL (tests/support/postgres.py; started on first use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from perdure.store.api import Store
from tests.support.postgres import shared_cluster

STORES = ["sqlite", "postgres"]

# `open_store(before_commit=None)` opens the fixture's store (again: same data).
OpenStore = Callable[..., Store]


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    if request.param == "sqlite":
        from perdure.store.sqlite import SqliteStore

        def open_sqlite(**kwargs: object) -> Store:
            return SqliteStore.open(tmp_path / "data", **kwargs)  # type: ignore[arg-type]

        return open_sqlite
    from perdure.store.postgres import PostgresStore

    url = shared_cluster().create_database()

    def open_postgres(**kwargs: object) -> Store:
        return PostgresStore.open(url, **kwargs)  # type: ignore[arg-type]

    return open_postgres


@pytest.fixture
async def store(open_store: OpenStore) -> AsyncIterator[Store]:
    opened = open_store()
    try:
        yield opened
    finally:
        await opened.close()
