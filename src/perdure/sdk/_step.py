"""How the body of a `ctx.run` step runs: on the event loop (async) or in a worker thread
(sync), bounded by `RunOptions.timeout`.

A step that runs longer than its timeout fails its attempt with `StepTimeoutError`, which
is retryable: the step's retry policy (or the invocation's) decides what happens next. A
sync body cannot be interrupted, so with a timeout it runs in a daemon thread of its own:
the attempt stops waiting for it, its late result is dropped, and a stuck thread neither
holds an executor slot nor keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any


class StepTimeoutError(Exception):
    """A `ctx.run` step ran longer than its `RunOptions.timeout` (retryable)."""


async def run_step_body(name: str, action: Callable[[], Any], timeout_s: float | None) -> Any:
    """`action()`'s result; StepTimeoutError once `timeout_s` passed without one."""
    if inspect.iscoroutinefunction(action):
        if timeout_s is None:
            return await action()
        limit = asyncio.timeout(timeout_s)
        try:
            async with limit:
                return await action()
        except TimeoutError:
            if limit.expired():
                raise _timed_out(name, timeout_s) from None
            raise  # the step's own TimeoutError
    # Like the official SDK: sync bodies run off the loop, with the caller's context variables.
    call = functools.partial(contextvars.copy_context().run, action)
    if timeout_s is None:
        return await asyncio.get_running_loop().run_in_executor(None, call)
    outcome = _in_daemon_thread(call, name)
    done, _ = await asyncio.wait({outcome}, timeout=timeout_s)
    if not done:
        raise _timed_out(name, timeout_s)
    return outcome.result()


def _timed_out(name: str, timeout_s: float) -> StepTimeoutError:
    return StepTimeoutError(f"ctx.run step {name!r} ran longer than its timeout of {timeout_s:g}s")


def _in_daemon_thread(call: Callable[[], Any], name: str) -> asyncio.Future[Any]:
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if outcome.done():
            return  # nobody waits any more (timed out, or the attempt ended): dropped
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)

    def body() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = call()
        except BaseException as exc:  # handed to the awaiting step, never lost here
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=body, name=f"ctx.run {name}", daemon=True).start()
    return outcome
