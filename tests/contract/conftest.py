"""Fixtures of the store contract suite: every test runs against every backend.

`sqlite`: a fresh data directory. `postgres`: a fresh database in the test process's
throwaway PostgreSQL (tests/support/postgres.py, started on first use).

`backend.open(**options)` opens the test's store (again: the same data); `backend.sql`
reads the backend's own tables directly, for what the interface does not show (the
migrations record). `store` is one opened store, closed after the test.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from perdure.store.api import Store
from tests.support.postgres import shared_cluster

STORES = ["sqlite", "postgres"]


@dataclass
class Backend:
    name: str
    open: Callable[..., Store]
    sql: Callable[[str], list[tuple[Any, ...]]]


def _sqlite(folder: Path) -> Backend:
    from perdure.store.sqlite import SqliteStore
    from perdure.store.sqlite.store import DB_FILE

    def read(query: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{folder / DB_FILE}?mode=ro", uri=True)
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.close()

    return Backend("sqlite", lambda **options: SqliteStore.open(folder, **options), read)


def _postgres() -> Backend:
    import psycopg

    from perdure.store.postgres import PostgresStore

    url = shared_cluster().create_database()

    def read(query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(query.encode()).fetchall()

    def open_store(**options: Any) -> Store:
        options.setdefault("lock_wait_s", 0.2)
        return PostgresStore.open(url, **options)

    return Backend("postgres", open_store, read)


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _sqlite(tmp_path / "data") if request.param == "sqlite" else _postgres()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = backend.open()
    try:
        yield opened
    finally:
        await opened.close()
