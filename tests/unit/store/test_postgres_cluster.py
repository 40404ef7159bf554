"""The PostgreSQL store in cluster mode: fenced writes, leases, inboxes and replies.

The fencing promise, at the store level: a transaction fenced by a lease this node no
longer holds at that epoch fails and commits nothing, and a takeover cannot slip in
while a fenced transaction is in flight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from perdure.store.api import (
    Lease,
    LeaseLost,
    PartitionTables,
    StoreError,
    StoreLockedError,
    WriteTxn,
)
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.coordination import Coordination
from tests.support.postgres import shared_cluster

PARTITIONS = 4
TTL_MS = 60_000


@pytest.fixture
def url() -> str:
    return shared_cluster().create_database()


@pytest.fixture
async def coordination(url: str) -> AsyncIterator[Callable[[str], Coordination]]:
    opened: list[Coordination] = []

    def connect(name: str) -> Coordination:
        db = Coordination(url, f"test {name}")
        opened.append(db)
        return db

    yield connect
    for db in opened:
        await db.close()


def _open(url: str, node: str, **options: Any) -> PostgresStore:
    return PostgresStore.open(url, PARTITIONS, node=node, lock_wait_s=0.2, **options)


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql.encode()).fetchall()


def _mark(name: str) -> Callable[[WriteTxn], None]:
    def job(txn: WriteTxn) -> None:
        txn.set_state("Marks", name, b"k", b"v")

    return job


def _marks(url: str) -> set[str]:
    return {r[0] for r in _rows(url, "SELECT key FROM state WHERE service = 'Marks'")}


async def _expire(url: str, partition: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE leases SET expires_at = now() - interval '1 second' WHERE partition = %s",
            (partition,),
        )


async def test_a_write_under_a_stale_epoch_fails_and_commits_nothing(
    url: str, coordination: Callable[[str], Coordination]
) -> None:
    store = _open(url, "a")
    a, b = coordination("a"), coordination("b")
    try:
        await a.ensure_leases(PARTITIONS)
        epoch = (await a.acquire("a", (), 1, TTL_MS))[0]
        lease = Lease(0, "a", epoch)
        await store.write_many_nowait([_mark("before")], lease)
        await _expire(url, 0)
        taken = await b.acquire("b", (1, 2, 3), 1, TTL_MS)
        assert taken == {0: epoch + 1}

        with pytest.raises(LeaseLost):
            await store.write_many_nowait([_mark("stale")], lease)
        with pytest.raises(LeaseLost):
            await store.write_nowait(_mark("stale-too"), lease)
        assert _marks(url) == {"before"}
        # The old owner cannot renew either: the epoch it holds is gone.
        assert await a.renew("a", {0: epoch}, TTL_MS) == set()
    finally:
        await store.close()


async def test_a_lost_lease_fails_only_its_own_jobs_in_a_shared_transaction(
    url: str, coordination: Callable[[str], Coordination]
) -> None:
    store = _open(url, "a")
    a, b = coordination("a"), coordination("b")
    try:
        await a.ensure_leases(PARTITIONS)
        epochs = await a.acquire("a", (), 2, TTL_MS)
        await _expire(url, 1)
        assert await b.acquire("b", (0, 2, 3), 1, TTL_MS) == {1: epochs[1] + 1}
        # Queued before either runs: one transaction holds both (group commit).
        kept = store.write_many_nowait([_mark("kept")], Lease(0, "a", epochs[0]))
        lost = store.write_many_nowait([_mark("lost")], Lease(1, "a", epochs[1]))
        unfenced = store.write_nowait(_mark("unfenced"))
        await kept
        await unfenced
        with pytest.raises(LeaseLost):
            await lost
        assert _marks(url) == {"kept", "unfenced"}
    finally:
        await store.close()


async def test_a_takeover_waits_for_the_fenced_transaction_in_flight(
    url: str, coordination: Callable[[str], Coordination]
) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        if not holding.is_set():
            holding.set()
            release.wait(10)

    store = _open(url, "a", before_commit=hold)
    a, b = coordination("a"), coordination("b")
    try:
        await a.ensure_leases(PARTITIONS)
        epoch = (await a.acquire("a", (), 1, TTL_MS))[0]
        write = store.write_many_nowait([_mark("in-flight")], Lease(0, "a", epoch))
        await asyncio.to_thread(holding.wait, 10)
        await _expire(url, 0)  # expired meanwhile: takeover is allowed, but must wait
        assert await b.acquire("b", (1, 2, 3), 1, TTL_MS) == {}  # row locked: skipped
        release.set()
        await write
        assert await b.acquire("b", (1, 2, 3), 1, TTL_MS) == {0: epoch + 1}
        assert _marks(url) == {"in-flight"}
    finally:
        release.set()
        await store.close()


async def test_a_writer_idle_inside_a_transaction_is_ended_and_its_write_fails(
    url: str, coordination: Callable[[str], Coordination]
) -> None:
    """What a paused node's writer looks like to PostgreSQL: the session is ended, its
    lease lock released, the takeover proceeds, and the paused write commits nothing."""

    def pause() -> None:
        time.sleep(1.5)

    store = _open(url, "a", before_commit=pause, idle_in_transaction_ms=300)
    a, b = coordination("a"), coordination("b")
    try:
        await a.ensure_leases(PARTITIONS)
        epoch = (await a.acquire("a", (), 1, TTL_MS))[0]
        write = store.write_many_nowait([_mark("paused")], Lease(0, "a", epoch))
        await _expire(url, 0)
        deadline = time.monotonic() + 10
        while not (taken := await b.acquire("b", (1, 2, 3), 1, TTL_MS)):
            assert time.monotonic() < deadline, "the paused writer's lock was never released"
            await asyncio.sleep(0.05)
        assert taken == {0: epoch + 1}
        with pytest.raises(StoreError):
            await write
        assert _marks(url) == set()
    finally:
        await store.close()


async def test_release_hands_a_partition_back_at_once(
    url: str, coordination: Callable[[str], Coordination]
) -> None:
    await _open(url, "a").close()  # creates the tables
    a, b = coordination("a"), coordination("b")
    await a.ensure_leases(PARTITIONS)
    held = await a.acquire("a", (), PARTITIONS, TTL_MS)
    assert sorted(held) == list(range(PARTITIONS))
    assert await b.acquire("b", (), 1, TTL_MS) == {}  # all leased, none expired
    assert await a.release("a", {2: held[2]}) == {2}
    assert await b.acquire("b", (), 1, TTL_MS) == {2: held[2] + 1}
    # A node that restarts takes back what its previous process held, without waiting.
    assert await a.acquire("a", (0, 1), 1, TTL_MS) == {3: held[3] + 1}


async def test_inbox_messages_and_replies_are_taken_once(url: str) -> None:
    store = _open(url, "a")
    db = Coordination(url, "test")
    try:

        def post(txn: WriteTxn) -> None:
            tables: PartitionTables = txn  # type: ignore[assignment]
            tables.push_message(3, b"hello")
            tables.push_reply("b", "request-1", b"answer")

        await store.write(post)
        [(message_id, partition, body)] = await db.read_messages([3], 10)
        assert (partition, body) == (3, b"hello")

        def take(txn: WriteTxn) -> bool:
            tables: PartitionTables = txn  # type: ignore[assignment]
            return tables.take_message(message_id)

        assert await store.write(take) is True
        assert await store.write(take) is False
        assert await db.take_replies("a") == []
        assert await db.take_replies("b") == [("request-1", b"answer")]
        assert await db.take_replies("b") == []
    finally:
        await db.close()
        await store.close()


async def test_a_single_node_server_and_cluster_nodes_exclude_each_other(url: str) -> None:
    single = PostgresStore.open(url, PARTITIONS, lock_wait_s=0.2)
    try:
        with pytest.raises(StoreLockedError, match="single-node"):
            _open(url, "a")
    finally:
        await single.close()
    a, b = _open(url, "a"), _open(url, "b")  # nodes share the database
    try:
        with pytest.raises(StoreLockedError, match="--node-name"):
            PostgresStore.open(url, PARTITIONS, lock_wait_s=0.2)
    finally:
        await a.close()
        await b.close()
