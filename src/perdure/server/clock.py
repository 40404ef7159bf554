"""Time for the server, injected so that tests (and `perdure.testing`) can control it.

Wall time (`now_ms`) stamps journal entries and decides when timers are due; monotonic
time would not survive a restart. Everything that waits for a moment in time (the timer
service, attempt timeouts, the cleaner) waits through `sleep` or `call_later`, so a
`ManualClock` can move time and wake them at once, without real waiting.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import time
from collections.abc import Callable

Cancel = Callable[[], None]


class Clock(abc.ABC):
    @abc.abstractmethod
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""

    @abc.abstractmethod
    def call_later(self, seconds: float, callback: Callable[[], None]) -> Cancel:
        """Run `callback` on the event loop once `seconds` passed on this clock; returns a
        function that cancels it."""

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` passed on this clock."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        cancel = self.call_later(seconds, wake)
        try:
            await future
        finally:
            cancel()


class SystemClock(Clock):
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Cancel:
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback).cancel

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock(Clock):
    """A clock that only moves when told to: `advance` runs every callback that is due."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._due: list[tuple[int, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Cancel:
        due = self._now + max(0, round(seconds * 1000))
        if due <= self._now:
            handle = asyncio.get_running_loop().call_soon(callback)
            return handle.cancel
        order = next(self._order)
        heapq.heappush(self._due, (due, order, callback))
        return lambda: self._cancelled.add(order)

    def advance(self, ms: int) -> None:
        """Move time forward by `ms` and run what is now due, in due order (call it on the
        loop)."""
        self._now += ms
        while self._due and self._due[0][0] <= self._now:
            _, order, callback = heapq.heappop(self._due)
            if order in self._cancelled:
                self._cancelled.discard(order)
                continue
            callback()

    def next_wakeup_ms(self) -> int | None:
        """When the earliest pending callback is due (None: nothing waits)."""
        while self._due and self._due[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._due)[1])
        return self._due[0][0] if self._due else None
