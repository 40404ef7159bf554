"""What only the PostgreSQL store has: partition keys on every row, the fixed partition
count, the query role's limits, connection errors and an outage of the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from perdure.protocol.ids import InvocationId, partition_key_for
from perdure.store.api import (
    InvocationRow,
    JournalEntryRow,
    QueryError,
    StoreConfigError,
    StoreError,
    TimerRow,
    WaiterRow,
    WriteTxn,
)
from perdure.store.partitioning import stored
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.query import PostgresQueryRunner
from perdure.store.postgres.store import masked
from tests.support.ports import free_port
from tests.support.postgres import PostgresCluster, shared_cluster


@pytest.fixture
def url() -> str:
    return shared_cluster().create_database()


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore.open(url, partitions=8)
    try:
        yield opened
    finally:
        await opened.close()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql.encode()).fetchall()


async def test_every_partitioned_row_carries_its_partition_key(
    store: PostgresStore, url: str
) -> None:
    invocation = str(InvocationId(partition_key_for("other-key"), 99))

    def fill(txn: WriteTxn) -> None:
        txn.put_invocation(
            InvocationRow(invocation, "S", "h", None, "SERVICE", None, "running", 1, 1)  # type: ignore[arg-type]
        )
        txn.append_entry(JournalEntryRow(invocation, 0, 0x0400, b"", 1))
        txn.add_timer(TimerRow(None, 5, invocation, "sleep", 1))  # type: ignore[arg-type]
        txn.add_waiter(WaiterRow(invocation, "inv_caller", 1))
        txn.set_state("Obj", "ann", b"k", b"v")
        txn.take_lock("Obj", "ann", invocation)
        txn.push_inbox("Obj", "ann", "inv_next")
        txn.complete_promise("Obj", "ann", "p", b"r")
        txn.add_promise_listener("Obj", "ann", "q", invocation, 2)

    await store.write(fill)
    of_invocation = stored(partition_key_for("other-key"))
    of_key = stored(partition_key_for("ann"))
    expected = {
        "invocations": of_invocation,
        "journal": of_invocation,
        "timers": of_invocation,
        "waiters": of_invocation,
        "state": of_key,
        "locks": of_key,
        "inbox": of_key,
        "promises": of_key,
        "promise_listeners": of_key,
    }
    for table, key in expected.items():
        assert _rows(url, f"SELECT DISTINCT partition_key FROM {table}") == [(key,)], table
    assert _rows(url, "SELECT value FROM meta WHERE name = 'partitions'") == [("8",)]


async def test_the_partition_count_is_fixed_when_the_schema_is_created(url: str) -> None:
    first = PostgresStore.open(url, partitions=4)
    await first.close()
    with pytest.raises(StoreConfigError, match=r"created with 4 partitions.*--partitions 4"):
        PostgresStore.open(url, partitions=64)
    again = PostgresStore.open(url, partitions=4)
    await again.close()


async def test_query_time_limit_and_no_session_state_outlives_a_query(
    store: PostgresStore, url: str
) -> None:
    with pytest.raises(QueryError, match="longer than"):
        await asyncio.to_thread(_slow_query, store)
    # A query may take an advisory lock; it is gone once the connection is back in the pool.
    await store.query("SELECT pg_advisory_lock(4242) IS NULL AS taken")
    assert _rows(url, "SELECT pg_try_advisory_lock(4242)") == [(True,)]


def _slow_query(store: PostgresStore) -> None:
    role = _query_role(store)
    runner = PostgresQueryRunner(role, time_limit_s=0.2)
    runner.open()
    try:
        runner.run("SELECT pg_sleep(5)")
    finally:
        runner.close()


def _query_role(store: PostgresStore) -> str:
    (password,) = _rows(
        store.conninfo, "SELECT value FROM meta WHERE name = 'query_role_password'"
    )[0]
    dbname = psycopg.conninfo.conninfo_to_dict(store.conninfo)["dbname"]
    return psycopg.conninfo.make_conninfo(
        store.conninfo, user=f"perdure_query_{dbname}", password=password
    )


async def test_the_query_role_reads_only_the_views(store: PostgresStore) -> None:
    with psycopg.connect(_query_role(store), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM sys_invocation").fetchone() == (0,)
        for sql in ("SELECT * FROM public.invocations", "SELECT * FROM public.meta"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.encode())
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE t (a int)")


async def test_unreachable_or_invalid_database_is_a_clear_error() -> None:
    with pytest.raises(StoreConfigError, match="cannot connect to PostgreSQL at"):
        PostgresStore.open(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none")
    with pytest.raises(StoreConfigError, match="invalid PostgreSQL URL"):
        PostgresStore.open("postgresql://[bad")
    assert "secret" not in masked("postgresql://nobody:secret@127.0.0.1:5/none")


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start_new()
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_the_store_carries_on_after_postgresql_restarts(
    own_cluster: PostgresCluster,
) -> None:
    store = PostgresStore.open(own_cluster.create_database())
    try:
        await store.write(lambda txn: txn.set_state("S", "k", b"a", b"before"))
        assert (await store.query("SELECT COUNT(*) AS n FROM state")).rows == [(1,)]
        old_pid = own_cluster.pid
        await asyncio.to_thread(own_cluster.restart)
        assert own_cluster.pid != old_pid
        # The writer finds its connection gone before the batch started, and reconnects.
        await store.write(lambda txn: txn.set_state("S", "k", b"b", b"after"))
        assert await store.read(lambda txn: txn.all_state("S", "k")) == [
            (b"a", b"before"),
            (b"b", b"after"),
        ]
        # The query pool replaces its cut connection too.
        assert (await store.query("SELECT COUNT(*) AS n FROM state")).rows == [(2,)]
        # While the server is down, writes fail (and commit nothing); reads recover after.
        await asyncio.to_thread(own_cluster.stop, remove=False)
        with pytest.raises(StoreError):
            await store.write(lambda txn: txn.set_state("S", "k", b"c", b"lost"))
        await asyncio.to_thread(own_cluster.start)
        assert await store.read(lambda txn: txn.get_state("S", "k", b"c")) is None
    finally:
        await store.close()


async def test_a_failed_transaction_leaves_nothing_behind_in_the_writer(url: str) -> None:
    fail = [True]

    def hook() -> None:
        if fail.pop() if fail else False:
            raise RuntimeError("commit refused")

    store = PostgresStore.open(url, before_commit=hook)
    try:
        row = InvocationRow("inv_x", "S", "h", None, "SERVICE", None, "running", 1, 1)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="commit refused"):
            await store.write(lambda txn: txn.put_invocation(row))
        assert await store.write(lambda txn: txn.get_invocation("inv_x")) is None
        await store.write(lambda txn: txn.put_invocation(row))
        assert await store.write(lambda txn: txn.get_invocation("inv_x")) == row
    finally:
        await store.close()
