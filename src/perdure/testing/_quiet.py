"""When has the in-process server nothing left to do without time passing?

Quiet means: no store job in flight (the writer and reader run on threads), no synchronous
`ctx.run` action running in the loop's executor, and nothing ready to run on the event
loop for a few turns in a row. Then every invocation is either finished or waits for
something only time or the test can give (a timer, a promise, an awakeable).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

QUIET_TURNS = 3
"""Loop turns in a row with nothing ready before the loop counts as quiet."""
_FALLBACK_TURNS = 50  # loops that do not expose their ready queue: more turns instead
_THREAD_POLL_S = 0.0005


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor while a harness runs: knows how many calls (sync
    `ctx.run` actions) are still running."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="perdure-testing-run")
        self._lock = threading.Lock()
        self.busy = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            self.busy += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.busy -= 1


_EXECUTORS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CountingExecutor] = (
    weakref.WeakKeyDictionary()
)


def counting_executor(loop: asyncio.AbstractEventLoop) -> CountingExecutor:
    """The loop's counting executor, installed as its default on first use (it stays, so
    that several harnesses on one loop share it; the loop shuts it down when it closes)."""
    executor = _EXECUTORS.get(loop)
    if executor is None:
        executor = _EXECUTORS[loop] = CountingExecutor()
        loop.set_default_executor(executor)
    return executor


def _ready_count(loop: asyncio.AbstractEventLoop) -> int | None:
    ready = getattr(loop, "_ready", None)  # asyncio's own loops; None elsewhere (uvloop)
    return len(ready) if ready is not None else None


async def wait_quiet(busy: Callable[[], bool], executor: CountingExecutor) -> None:
    """Return once `busy()` is false, no executor call runs, and the loop stays idle."""
    loop = asyncio.get_running_loop()
    turns = 0
    while True:
        if busy() or executor.busy:
            turns = 0
            await asyncio.sleep(_THREAD_POLL_S)  # work on a thread: let it finish
            continue
        await asyncio.sleep(0)
        ready = _ready_count(loop)
        if ready is None:
            turns += 1
            if turns >= _FALLBACK_TURNS:
                return
        elif ready == 0:
            turns += 1
            if turns >= QUIET_TURNS:
                return
        else:
            turns = 0
