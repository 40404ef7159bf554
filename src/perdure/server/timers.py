"""The timer service: keeps due times in memory, fires them as commands to the processor.

Timers live in the store (sleeps, delayed sends, retry backoff); this service only knows
*when* to fire. At startup it loads every stored timer; afterwards the processor arms the
ones it creates (after their commit). Firing is a `FireTimer` command: the engine deletes
the timer row in the same transaction as its effect, so a timer fires at most once even
if it is armed twice or the server crashes around the firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Callable

from perdure.server.clock import Clock
from perdure.server.commands import Command, FireTimer

logger = logging.getLogger(__name__)

Submit = Callable[[Command], "asyncio.Future[object]"]


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

    async def run(self) -> None:
        while True:
            self._changed.clear()
            now = self._clock.now_ms()
            while self._heap and self._heap[0][0] <= now:
                _, timer_id = heapq.heappop(self._heap)
                self._armed.discard(timer_id)
                future = self._submit(FireTimer(timer_id))
                future.add_done_callback(_log_failure)
            timeout = None
            if self._heap:
                timeout = max(0.0, (self._heap[0][0] - now) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)


def _log_failure(future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        # The row is still stored; it fires again at the next start.
        logger.error("firing a timer failed: %s", future.exception())
