"""The timer service: keeps due times in memory, fires them as commands to the processor.

Timers live in the store (sleeps, delayed sends, retry backoff); this service only knows
*when* to fire. At startup it loads every stored timer; afterwards the processor arms the
ones it creates (after their commit). Firing is a `FireTimer` command: the engine deletes
the timer row in the same transaction as its effect, so a timer fires at most once even
if it is armed twice or the server crashes around the firing. Waiting goes through the
injected clock, so a manual clock fires a week of timers without real waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from perdure.server.clock import Clock
from perdure.server.engine.commands import FireTimer

logger = logging.getLogger(__name__)

RETRY_FIRING_MS = 1_000  # a firing whose command failed (e.g. the store) is retried after this

Submit = Callable[[FireTimer], "asyncio.Future[None]"]


class TimerService:
    def __init__(self, clock: Clock, submit: Submit) -> None:
        self._clock = clock
        self._submit = submit
        self._heap: list[tuple[int, int]] = []
        self._armed: set[int] = set()
        self._changed = asyncio.Event()

    def arm(self, timer_id: int, due_at: int) -> None:
        if timer_id in self._armed:
            return
        self._armed.add(timer_id)
        heapq.heappush(self._heap, (due_at, timer_id))
        self._changed.set()

    def counts(self) -> tuple[int, int]:
        """(armed, due now): timers held in memory, and those already due."""
        now = self._clock.now_ms()
        return len(self._armed), sum(1 for due_at, _ in self._heap if due_at <= now)

    async def run(self) -> None:
        while True:
            self._changed.clear()
            now = self._clock.now_ms()
            while self._heap and self._heap[0][0] <= now:
                _, timer_id = heapq.heappop(self._heap)
                self._armed.discard(timer_id)
                fired = self._submit(FireTimer(timer_id))
                fired.add_done_callback(partial(self._fired, timer_id))
            changed = asyncio.ensure_future(self._changed.wait())
            waits: set[asyncio.Future[Any]] = {changed}
            if self._heap:
                waits.add(asyncio.ensure_future(self._clock.sleep((self._heap[0][0] - now) / 1000)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    def _fired(self, timer_id: int, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is None:
            return
        # Nothing of the failed command was stored, the timer row included: try again.
        logger.error("firing timer %d failed, retrying: %s", timer_id, future.exception())
        self.arm(timer_id, self._clock.now_ms() + RETRY_FIRING_MS)
