"""The engine of one leased partition: its processor, timers, cleaner and inbox.

A node runs one `PartitionWorker` per partition it leases. Every write of the worker goes
to the store fenced by the lease (`FencedStore`), so it commits only while the partition
is still leased to this node at that epoch. Starting, the worker recovers the partition
(`Recover`: new attempts for what was in flight at the last owner) before anything else
it is given, and arms the partition's stored timers. Stopped (lease lost, handed back,
or a failed transaction), it does nothing more: effects of commits still in flight are
dropped, except answers to waiting callers (those are committed facts); the next owner
recovers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from perdure.server.clock import Clock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    AbortAttempt,
    ApplyMessage,
    ArmTimer,
    Cleanup,
    Effect,
    Engine,
    InvocationEnded,
    NotificationCommitted,
    PartitionProcessor,
    PartitionScope,
    Recover,
    StartAttempt,
    TimerService,
)
from perdure.server.invoker import Invoker
from perdure.server.observe.metrics import ServerMetrics
from perdure.store.api import (
    JobFailed,
    Lease,
    PartitionTables,
    QueryResult,
    ReadTxn,
    Store,
    StoreError,
    WriteTxn,
)
from perdure.store.postgres import PostgresStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
FailureSink = Callable[[Lease, BaseException], None]


class FencedStore(Store):
    """The node's store, with every write fenced by one partition's lease; a write that
    fails (lease lost, database gone) is reported to `failed`."""

    def __init__(self, store: PostgresStore, lease: Lease, failed: FailureSink) -> None:
        self._store = store
        self.lease = lease
        self._failed = failed

    def _watch(self, future: asyncio.Future[Any]) -> None:
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and isinstance(error := future.exception(), StoreError):
            self._failed(self.lease, error)

    def write_nowait(self, fn: Callable[[WriteTxn], T]) -> asyncio.Future[T]:
        future = self._store.write_nowait(fn, self.lease)
        self._watch(future)
        return future

    def write_many_nowait(
        self, fns: Sequence[Callable[[WriteTxn], T]]
    ) -> asyncio.Future[list[T | JobFailed]]:
        future = self._store.write_many_nowait(fns, self.lease)
        self._watch(future)
        return future

    async def read(self, fn: Callable[[ReadTxn], T]) -> T:
        return await self._store.read(fn)

    def schema_version(self) -> int:
        return self._store.schema_version()

    async def query(self, sql: str) -> QueryResult:
        return await self._store.query(sql)

    async def close(self) -> None:
        """The node's store outlives its partitions: nothing to close here."""


class PartitionWorker:
    def __init__(
        self,
        config: ServerConfig,
        clock: Clock,
        store: PostgresStore,
        lease: Lease,
        invoker: Invoker,
        resolve: Callable[[InvocationEnded], None],
        failed: FailureSink,
        metrics: ServerMetrics,
    ) -> None:
        self.partition = lease.partition
        self.lease = lease
        self.scope = PartitionScope(lease.partition, config.partitions, lease.node)
        self.store = FencedStore(store, lease, failed)
        self.processor = PartitionProcessor(
            self.store,
            Engine(config, clock, self.scope),
            self._effect,
            on_commit=metrics.committed,
        )
        self._metrics = metrics
        self.timers = TimerService(clock, self.processor.submit_nowait)
        self.active = True
        self._config = config
        self._clock = clock
        self._reader = store
        self._invoker = invoker
        self._resolve = resolve
        self._inflight: set[int] = set()  # inbox messages submitted, not yet committed
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Recover first: the command is queued before anything else can reach the
        processor (the caller makes the worker reachable right after)."""
        recovered = self.processor.submit_nowait(Recover())
        self._tasks = [
            asyncio.create_task(self._start(recovered), name=f"partition {self.partition}"),
            asyncio.create_task(self.timers.run(), name=f"timers {self.partition}"),
            asyncio.create_task(self._cleaner(), name=f"cleaner {self.partition}"),
        ]

    def stop(self) -> None:
        self.active = False
        for task in self._tasks:
            task.cancel()

    async def _start(self, recovered: asyncio.Future[None]) -> None:
        first, last = self.scope.key_range
        timers = await self._reader.read(lambda txn: _tables(txn).timers_in(first, last))
        for timer in timers:
            assert timer.id is not None
            self.timers.arm(timer.id, timer.due_at)
        try:
            await recovered
        except Exception as exc:  # the failure already reached the node (FencedStore)
            logger.warning("recovering partition %d failed: %s", self.partition, exc)
            return
        logger.debug("partition %d recovered at epoch %d", self.partition, self.lease.epoch)

    async def _cleaner(self) -> None:
        """Purge this partition's expired completed invocations every cleanup interval."""
        while True:
            await self._clock.sleep(max(self._config.cleanup_interval_ms, 10) / 1000)
            with contextlib.suppress(Exception):  # failures reach the node; next pass retries
                await self.processor.submit(Cleanup())

    def apply_message(self, message_id: int, body: bytes) -> bool:
        """Submit inbox message `message_id` unless it is in flight already; True if
        submitted now."""
        if not self.active or message_id in self._inflight:
            return False
        self._inflight.add(message_id)
        applied = self.processor.submit_nowait(ApplyMessage(message_id, body))
        applied.add_done_callback(partial(self._applied, message_id))
        return True

    def _applied(self, message_id: int, future: asyncio.Future[None]) -> None:
        self._inflight.discard(message_id)
        if not future.cancelled() and (error := future.exception()) is not None:
            # Left in the inbox: the next read (here or at the next owner) submits it again.
            logger.debug("inbox message %d not applied: %s", message_id, error)

    def _effect(self, effect: Effect) -> None:
        if self.active:
            self._metrics.effect(effect)
        if isinstance(effect, InvocationEnded):
            self._resolve(effect)  # committed: whoever waits may have it
        elif not self.active:
            return  # the partition is someone else's now: its owner recovers the rest
        elif isinstance(effect, StartAttempt):
            self._invoker.start(effect.plan)
        elif isinstance(effect, ArmTimer):
            self.timers.arm(effect.timer_id, effect.due_at)
        elif isinstance(effect, NotificationCommitted):
            self._invoker.forward(effect)
        elif isinstance(effect, AbortAttempt):
            self._invoker.abort(effect.invocation_id, effect.attempt)


def _tables(txn: ReadTxn) -> PartitionTables:
    assert hasattr(txn, "timers_in"), "cluster mode reads through ClusterTxn"
    return txn  # type: ignore[return-value]
