"""The admin API's query engine (DataFusion over the store's views) ends every query in
bounded time: a recursive CTE that never ends is refused instead of spinning a core past the
engine's time limit (found by test_http_fuzz.py: it never answered)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perdure.server.query import QueryEngine
from perdure.store.api import QueryError
from perdure.store.sqlite.store import SqliteStore

ENDLESS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


async def test_an_endless_recursive_query_is_refused_at_once(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    try:
        engine = QueryEngine(store)
        with pytest.raises(QueryError, match=r"[Rr]ecursive"):
            await asyncio.wait_for(engine.query(ENDLESS), timeout=10)
        # Ordinary queries still run.
        table = await engine.query("SELECT count(*) AS n FROM sys_invocation")
        assert table.to_pylist() == [{"n": 0}]
    finally:
        await store.close()
