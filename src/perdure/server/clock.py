"""Time for the server, injected so that tests (and `perdure.testing`) can control it.

Wall time (`now_ms`) stamps journal entries and decides when timers are due; monotonic
time would not survive a restart. Everything that waits for a moment in time (the timer
service, attempt timeouts) waits through `sleep`, so a `ManualClock` can move time and
wake them at once, without real waiting.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import time


class Clock(abc.ABC):
    @abc.abstractmethod
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""

    @abc.abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` passed on this clock."""


class SystemClock(Clock):
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock(Clock):
    """A clock that only moves when told to: `advance` wakes every sleeper that is due."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        due = self._now + max(0, round(seconds * 1000))
        if due <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (due, next(self._order), future))
        await future

    def advance(self, ms: int) -> None:
        """Move time forward by `ms` and wake the sleepers now due (call it on the loop)."""
        self._now += ms
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def next_wakeup_ms(self) -> int | None:
        """When the earliest sleeper is due (None: nobody sleeps)."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None
