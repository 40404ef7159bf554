"""What the timer service keeps in memory per armed timer (a suspended sleeping invocation
costs one): a (due, id) tuple in its heap and the id in its set, about 175 bytes on CPython
3.11. The bound here is what docs quote (bench/README.md, "Memory of suspended invocations")."""

from __future__ import annotations

import asyncio
import tracemalloc

from perdure.server.clock import SystemClock
from perdure.server.engine.timers import TimerService

TIMERS = 50_000
BYTES_PER_TIMER = 256


def _noop(command: object) -> asyncio.Future[None]:
    raise AssertionError("nothing is due")


async def test_an_armed_timer_costs_under_256_bytes() -> None:
    service = TimerService(SystemClock(), _noop)
    due = SystemClock().now_ms() + 3_600_000
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(TIMERS):
            service.arm(10**9 + i, due + i)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert 0 < grown / TIMERS < BYTES_PER_TIMER, grown / TIMERS
    # Arming a timer twice keeps one entry.
    service.arm(10**9, due)
    assert len(service._heap) == TIMERS
