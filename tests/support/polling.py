"""Wait for conditions with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .process import ManagedProcess

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    pass


async def eventually(
    probe: Callable[[], Awaitable[T | None] | T | None],
    *,
    what: str,
    within: float = 20.0,
    interval: float = 0.05,
) -> T:
    """Call (and await, if async) `probe` until it returns neither None nor False; return that."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last is not None and last is not False:
            return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise ConditionTimeout(f"waited {within}s for {what}; last probe: {last!r}")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T | None],
    *,
    what: str,
    within: float = 30.0,
    interval: float = 0.05,
) -> T:
    deadline = time.monotonic() + within
    last: object = None
    while True:
        last = probe()
        if last is not None and last is not False:
            return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise ConditionTimeout(f"waited {within}s for {what}; last probe: {last!r}")
        time.sleep(interval)


def wait_until(ready: Callable[[], bool], process: ManagedProcess, timeout: float) -> bool:
    """Poll `ready()` while `process` runs; False when it exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.exit_code() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


def http_ok(url: str) -> bool:
    """True when GET `url` answers 200; False on any other status or transport error."""
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
