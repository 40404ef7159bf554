"""The partition processor: the single writer that applies commands in order.

Commands arrive on a queue. The processor takes everything that is ready, hands each
command to the store as its own write job (in queue order, so they are applied in that
order and the store commits them as one group), and waits for the commit. Only then does
it answer the submitters and run the effects (start attempts, arm timers, answer ingress
callers): nothing is acknowledged before its transaction committed.

With SQLite every partition shares one writer connection, so one processor owns all
partitions; a PostgreSQL store will run one processor per leased partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from perdure.server.engine.api import Applied, Engine
from perdure.server.engine.commands import Command, Effect
from perdure.server.engine.errors import EngineError
from perdure.store.api import Store

logger = logging.getLogger(__name__)

R = TypeVar("R")
EffectSink = Callable[[Effect], None]
_MAX_BATCH = 512


class Submit(Protocol):
    """How ingress, admin and invoker hand a command to the engine: its reply comes back
    after the commit (`PartitionProcessor.submit`)."""

    def __call__(self, command: Command[R], /) -> Awaitable[R]: ...


class PartitionProcessor:
    def __init__(self, store: Store, engine: Engine, effects: EffectSink) -> None:
        self._store = store
        self._engine = engine
        self._effects = effects
        self._queue: asyncio.Queue[tuple[Command[Any], asyncio.Future[Any]]] = asyncio.Queue()

    def submit_nowait(self, command: Command[R]) -> asyncio.Future[R]:
        """Queue a command; the future resolves with its reply after the commit (or with
        the `EngineError` that refused it)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future))
        return future

    async def submit(self, command: Command[R]) -> R:
        return await self.submit_nowait(command)

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            jobs = [
                self._store.write_nowait(partial(self._engine.apply, command=cmd))
                for cmd, _ in batch
            ]
            for (command, reply), job in zip(batch, jobs, strict=True):
                try:
                    applied: Applied[Any] = await job
                except Exception as exc:
                    if not isinstance(exc, EngineError):
                        logger.exception("command %s failed", type(command).__name__)
                    if not reply.done():
                        reply.set_exception(exc)
                    continue
                for effect in applied.effects:
                    try:
                        self._effects(effect)
                    except Exception:
                        logger.exception("effect %s failed", type(effect).__name__)
                if not reply.done():
                    reply.set_result(applied.reply)
