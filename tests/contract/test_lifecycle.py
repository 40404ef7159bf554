"""The store's lifecycle contract: migrations, durability, one writer, reopening."""

from __future__ import annotations

import asyncio
import threading

import pytest

from perdure.store.api import InvocationRow, StoreLockedError
from perdure.store.migrations import MIGRATION_NAMES

from .conftest import Backend
from .test_store import invocation


async def test_migrations_are_applied_once_and_recorded(backend: Backend) -> None:
    for _ in range(2):  # the second open finds everything applied
        opened = backend.open()
        await opened.close()
    recorded = backend.sql("SELECT name FROM migrations ORDER BY name")
    assert [name for (name,) in recorded] == list(MIGRATION_NAMES)


async def test_a_write_resolves_only_after_commit(backend: Backend) -> None:
    """The durability rule: while COMMIT is held back, the write's future stays pending
    and no reader sees the row; once COMMIT returned, both do."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:  # runs on the writer thread, right before COMMIT
        entered.set()
        release.wait(10)

    store = backend.open(before_commit=hold)
    try:
        write = store.write_nowait(lambda txn: txn.put_invocation(invocation("inv_held")))
        assert await asyncio.to_thread(entered.wait, 10), "the writer never reached COMMIT"
        assert not write.done()
        assert await store.read(lambda txn: txn.get_invocation("inv_held")) is None
        release.set()
        await asyncio.wait_for(write, 10)
        found = await store.read(lambda txn: txn.get_invocation("inv_held"))
        assert isinstance(found, InvocationRow)
    finally:
        release.set()
        await store.close()


async def test_one_writer_per_store_and_data_survive_reopen(backend: Backend) -> None:
    first = backend.open()
    try:
        with pytest.raises(StoreLockedError):
            backend.open()
        await first.write(lambda txn: txn.put_invocation(invocation()))
        await first.write(lambda txn: txn.set_state("S", "k", b"\x00key", b"\xffvalue"))
    finally:
        await first.close()
    second = backend.open()
    try:
        assert await second.read(lambda txn: txn.get_invocation("inv_a")) == invocation()
        assert await second.read(lambda txn: txn.get_state("S", "k", b"\x00key")) == b"\xffvalue"
    finally:
        await second.close()
