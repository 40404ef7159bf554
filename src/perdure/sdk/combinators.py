"""Combinators over durable futures, as in restate-sdk 1.2 (`restate.asyncio`).

An await over several futures is one await point of the journal machine: on suspension the
server is told about every handle at once, and on replay the same future wins again.
Futures must come from the same context; anything else raises `TerminalError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from perdure.sdk._attempt import Attempt
from perdure.sdk._context import DurableFuture
from perdure.sdk._core.notifications import AllOf, AnyOf
from perdure.sdk.context import RestateDurableFuture
from perdure.sdk.errors import TerminalError


def _attempt_of(futures: list[RestateDurableFuture[Any]]) -> Attempt:
    attempt: Attempt | None = None
    for future in futures:
        if not isinstance(future, DurableFuture):
            raise TerminalError("All futures must be created by the SDK.")
        if attempt is None:
            attempt = future.attempt
        elif attempt is not future.attempt:
            raise TerminalError("All futures must be created by the same SDK context.")
    assert attempt is not None
    return attempt


async def gather(*futures: RestateDurableFuture[Any]) -> list[RestateDurableFuture[Any]]:
    """Wait until every future completed (successfully or not); return them."""
    pending = list(futures)
    if not pending:
        return []
    attempt = _attempt_of(pending)
    handles = [f.handle for f in pending if isinstance(f, DurableFuture) and not f.is_completed()]
    if handles:
        await attempt.wait_for(AllOf(tuple(handles)))
    return pending


async def wait_completed(
    *futures: RestateDurableFuture[Any],
) -> tuple[list[RestateDurableFuture[Any]], list[RestateDurableFuture[Any]]]:
    """Wait until at least one future completed; return (completed, not completed)."""
    candidates = list(futures)
    if not candidates:
        return [], []
    attempt = _attempt_of(candidates)
    done: list[RestateDurableFuture[Any]] = [
        f for f in candidates if isinstance(f, DurableFuture) and f.is_completed()
    ]
    if done:
        return done, [f for f in candidates if f not in done]
    handles = tuple(f.handle for f in candidates if isinstance(f, DurableFuture))
    await attempt.wait_for(AnyOf(handles))
    done = [f for f in candidates if isinstance(f, DurableFuture) and f.is_completed()]
    return done, [f for f in candidates if f not in done]


async def as_completed(
    *futures: RestateDurableFuture[Any],
) -> AsyncIterator[RestateDurableFuture[Any]]:
    """Yield the futures as they complete."""
    remaining = list(futures)
    while remaining:
        done, remaining = await wait_completed(*remaining)
        for future in done:
            yield future


async def select(**named: RestateDurableFuture[Any]) -> list[Any]:
    """``[name, result]`` of the first future to complete (awaiting it raises its error).

    ``match await select(ok=ctx.promise("p").value(), timeout=ctx.sleep(...))``.
    """
    if not named:
        raise ValueError("At least one future must be passed.")
    names = {id(future): name for name, future in named.items()}
    async for future in as_completed(*named.values()):
        return [names[id(future)], await future]
    raise AssertionError("as_completed yielded nothing")
