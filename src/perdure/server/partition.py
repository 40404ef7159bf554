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
from collections.abc import Callable
from functools import partial

from perdure.server.commands import (
    AttemptFailed,
    Cleanup,
    Command,
    CompleteSignal,
    Effect,
    FireTimer,
    InvocationControl,
    Invoke,
    Outcome,
    Recover,
    SdkFrames,
)
from perdure.server.engine import Engine, control, retention, signals
from perdure.server.invoker.live import JournalTap
from perdure.server.sdk_messages import apply_sdk_frames
from perdure.store.api import Store, WriteTxn

logger = logging.getLogger(__name__)

EffectSink = Callable[[Effect], None]
_MAX_BATCH = 512


class PartitionProcessor:
    def __init__(self, store: Store, engine: Engine, effects: EffectSink) -> None:
        self._store = store
        self._engine = engine
        self._effects = effects
        self._queue: asyncio.Queue[tuple[Command, asyncio.Future[object]]] = asyncio.Queue()

    def submit_nowait(self, command: Command) -> asyncio.Future[object]:
        """Queue a command; the future resolves with its reply after the commit."""
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future))
        return future

    async def submit(self, command: Command) -> object:
        return await self.submit_nowait(command)

    def _apply(self, command: Command, txn: WriteTxn) -> Outcome:
        # Running bidi attempts get the notifications this command appends (after commit).
        tap = JournalTap(txn)
        txn = tap.txn
        outcome = Outcome()
        engine = self._engine
        if isinstance(command, SdkFrames):
            apply_sdk_frames(engine, txn, command, outcome)
        elif isinstance(command, Invoke):
            engine.invoke(txn, command, outcome)
        elif isinstance(command, AttemptFailed):
            engine.on_attempt_failed(txn, command, outcome)
        elif isinstance(command, FireTimer):
            engine.fire_timer(txn, command, outcome)
        elif isinstance(command, Recover):
            engine.recover(txn, outcome)
        elif isinstance(command, CompleteSignal):
            outcome.reply = signals.on_complete_signal(engine, txn, command, outcome)
        elif isinstance(command, InvocationControl):
            outcome.reply = control.apply(engine, txn, command, outcome)
        elif isinstance(command, Cleanup):
            retention.cleanup(engine, txn, outcome)
        tap.emit(outcome)
        return outcome

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            jobs = [self._store.write_nowait(partial(self._apply, cmd)) for cmd, _ in batch]
            for (command, reply), job in zip(batch, jobs, strict=True):
                try:
                    outcome = await job
                except Exception as exc:
                    if not isinstance(exc, LookupError):
                        logger.exception("command %s failed", type(command).__name__)
                    if not reply.done():
                        reply.set_exception(exc)
                    continue
                for effect in outcome.effects:
                    try:
                        self._effects(effect)
                    except Exception:
                        logger.exception("effect %s failed", type(effect).__name__)
                if not reply.done():
                    reply.set_result(outcome.reply)
