"""Time for the server, injected so that timer tests can control it.

Wall time (`now_ms`) stamps journal entries and decides when timers are due; monotonic
time would not survive a restart. Waiting goes through `sleep` so a test clock can skip.
"""

from __future__ import annotations

import abc
import asyncio
import time


class Clock(abc.ABC):
    @abc.abstractmethod
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SystemClock(Clock):
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms
