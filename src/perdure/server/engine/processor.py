"""The partition processor: the single writer that applies commands in order.

Commands are submitted from the event loop. Everything submitted before the loop next
runs the processor's flush goes to the store as one job list (`Store.write_many_nowait`):
applied in submission order, each command in its own savepoint (a refused command rolls
back alone), all committed together with whatever else the store's writer has queued
(group commit). Flushes are pipelined: the next one is queued while the previous commits.

Once a flush committed, the processor answers its submitters and runs its effects (start
attempts, arm timers, answer ingress callers, forward notifications), flush by flush in
commit order: nothing is acknowledged before its transaction committed.

With SQLite (or PostgreSQL on one node) every partition shares one writer connection, so
one processor owns all partitions; a cluster node runs one processor per partition it
leases, each writing through a store fenced by that lease (perdure.server.cluster).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from perdure.server.engine.api import Applied, Engine
from perdure.server.engine.commands import AttemptFailed, Command, Effect, StartAttempt
from perdure.server.engine.errors import EngineError
from perdure.store.api import JobFailed, LeaseLost, Store, StoreError

logger = logging.getLogger(__name__)

R = TypeVar("R")
EffectSink = Callable[[Effect], None]
MAX_FLUSH = 512
"""Commands per flush; more wait for the next one (bounds one transaction's work)."""

_Pending = tuple[Command[Any], "asyncio.Future[Any]"]


class Submit(Protocol):
    """How ingress, admin and invoker hand a command to the engine: its reply comes back
    after the commit (`PartitionProcessor.submit`)."""

    def __call__(self, command: Command[R], /) -> Awaitable[R]: ...


class PartitionProcessor:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        effects: EffectSink,
        on_commit: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._effects = effects
        # Told each committed flush's latency (seconds from queued to committed): metrics.
        self._on_commit = on_commit
        self._pending: list[_Pending] = []
        self._flush_scheduled = False
        self._stopped = asyncio.Event()

    def submit_nowait(self, command: Command[R]) -> asyncio.Future[R]:
        """Queue a command; the future resolves with its reply after the commit (or with
        the `EngineError` that refused it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((command, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    async def submit(self, command: Command[R]) -> R:
        return await self.submit_nowait(command)

    @property
    def pending(self) -> int:
        """Commands waiting for the next flush."""
        return len(self._pending)

    async def run(self) -> None:
        """Kept running by the server while it serves; work happens in flushes."""
        await self._stopped.wait()

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending:
            batch, self._pending = self._pending[:MAX_FLUSH], self._pending[MAX_FLUSH:]
            jobs = [partial(self._engine.apply, command=command) for command, _ in batch]
            done = self._store.write_many_nowait(jobs)
            done.add_done_callback(partial(self._committed, batch, time.perf_counter()))

    def _effect_failed(self, effect: Effect, error: Exception) -> None:
        """An attempt that could not even start is a failed attempt: retried per the retry
        policy, instead of leaving its invocation running with no attempt until a restart."""
        if isinstance(effect, StartAttempt):
            plan = effect.plan
            message = f"the attempt could not start: {error!r}"
            failed = self.submit_nowait(
                AttemptFailed(plan.invocation_id, plan.attempt, 500, message)
            )
            failed.add_done_callback(_log_refusal)

    def _committed(
        self,
        batch: list[_Pending],
        queued_at: float,
        done: asyncio.Future[list[Applied[Any] | JobFailed]],
    ) -> None:
        together = True  # the flush failed as a whole: say so once, not per command
        if done.cancelled():
            results: list[Applied[Any] | JobFailed] = [
                JobFailed(RuntimeError("the store was closed")) for _ in batch
            ]
        elif isinstance(error := done.exception(), LeaseLost):
            # Cluster mode: the partition moved; nothing of this flush was committed.
            logger.info("%d commands not applied here: %s", len(batch), error)
            results = [JobFailed(error) for _ in batch]
        elif error is not None:
            # The transaction failed: nothing of this flush was committed.
            logger.error("a write transaction failed: %s", error)
            results = [JobFailed(error) for _ in batch]  # type: ignore[arg-type]
        else:
            together = False
            results = done.result()
            if self._on_commit is not None:
                self._on_commit(time.perf_counter() - queued_at)
        for (command, reply), result in zip(batch, results, strict=True):
            if isinstance(result, JobFailed):
                # A refusal is an answer; a store failure was logged once for its batch.
                if not together and not isinstance(result.error, EngineError | StoreError):
                    logger.error("command %s failed", type(command).__name__, exc_info=result.error)
                if not reply.done():
                    reply.set_exception(result.error)
                continue
            for effect in result.effects:
                try:
                    self._effects(effect)
                except Exception as exc:
                    logger.exception("effect %s failed", type(effect).__name__)
                    self._effect_failed(effect, exc)
            if not reply.done():
                reply.set_result(result.reply)


def _log_refusal(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("could not fail the attempt: %s", future.exception())
