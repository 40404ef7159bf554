"""The SQL of restate's CLI and UI, run by `QueryEngine` (DataFusion) over a SQLite store:
each construct means what it means on restate-server, with restate's column types."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perdure.server.query.engine import QueryEngine
from perdure.store.sqlite.store import SqliteStore
from tests.unit.server.test_admin_query import _fill


@pytest.fixture(scope="module")
def ask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`ask(sql)`: the rows, as dicts, and the column types, as strings."""
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(_filled(tmp_path_factory.mktemp("dialect")))
    engine = QueryEngine(store)

    def ask(sql: str) -> tuple[list[dict[str, object]], list[str]]:
        table = loop.run_until_complete(engine.query(sql))
        return table.to_pylist(), [str(t) for t in table.schema.types]

    yield ask
    loop.run_until_complete(store.close())
    loop.close()


async def _filled(folder: Path) -> SqliteStore:
    store = SqliteStore.open(folder)
    await store.write(_fill)
    return store


def test_ilike_is_case_insensitive(ask: Any) -> None:
    rows, _ = ask("SELECT id FROM sys_invocation WHERE target ILIKE '%counter/K1%'")
    assert rows == [{"id": "inv_a"}]
    rows, _ = ask("SELECT id FROM sys_invocation WHERE target LIKE '%counter/K1%'")
    assert rows == []


def test_aggregate_filter_counts_are_int64(ask: Any) -> None:
    rows, types = ask(
        "SELECT COUNT(*) FILTER (WHERE status = 'completed') AS done, COUNT(*) AS total "
        "FROM sys_invocation"
    )
    assert rows == [{"done": 1, "total": 2}] and types == ["int64", "int64"]


def test_date_bin_buckets_timestamps(ask: Any) -> None:
    rows, types = ask(
        "SELECT date_bin(INTERVAL '60 seconds', created_at, TIMESTAMP '1970-01-01T00:00:00') "
        "AS t, COUNT(*) AS n FROM sys_invocation GROUP BY 1 ORDER BY 1"
    )
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    assert rows == [{"t": epoch, "n": 2}]  # both created at 1 s
    assert types[0].startswith("timestamp")


def test_json_arrow_operator_reads_journal_entries(ask: Any) -> None:
    rows, _ = ask(
        "SELECT index, entry_json -> 'Command' -> 'Run' ->> 'name' AS step "
        "FROM sys_journal ORDER BY index"
    )
    assert rows == [{"index": 0, "step": None}, {"index": 1, "step": "my-step"}]


def test_cast_as_string(ask: Any) -> None:
    rows, _ = ask("SELECT CAST(index AS STRING) AS i FROM sys_journal ORDER BY index")
    assert rows == [{"i": "0"}, {"i": "1"}]


def test_cte_and_right_join_keep_every_right_row(ask: Any) -> None:
    rows, _ = ask(
        "WITH inv AS (SELECT id, pinned_deployment_id FROM sys_invocation) "
        "SELECT inv.id, dp.id IS NOT NULL AS pinned FROM sys_deployment dp "
        "RIGHT JOIN inv ON dp.id = inv.pinned_deployment_id ORDER BY inv.id"
    )
    assert rows == [{"id": "inv_a", "pinned": False}, {"id": "inv_b", "pinned": False}]


def test_first_value_ordered_and_double_equals(ask: Any) -> None:
    rows, _ = ask(
        "SELECT target_service_name AS s, FIRST_VALUE(id ORDER BY id DESC) AS last "
        "FROM sys_invocation GROUP BY target_service_name"
    )
    assert rows == [{"s": "Counter", "last": "inv_b"}]
    rows, _ = ask("SELECT id FROM sys_invocation WHERE status == 'completed'")
    assert rows == [{"id": "inv_b"}]


def test_information_schema_lists_restates_columns(ask: Any) -> None:
    rows, _ = ask(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'sys_keyed_service_status' ORDER BY column_name"
    )
    assert rows == [
        {"column_name": "invocation_id", "data_type": "LargeUtf8"},
        {"column_name": "partition_key", "data_type": "UInt64"},
        {"column_name": "service_key", "data_type": "LargeUtf8"},
        {"column_name": "service_name", "data_type": "LargeUtf8"},
    ]
