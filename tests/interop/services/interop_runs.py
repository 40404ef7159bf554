"""ctx.run semantics and a handler whose code changes between attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import interop_effects as effects
from interop_sdk import restate

runs = restate.Service("Runs")


@runs.handler()
async def once_then_retry(ctx: restate.Context, name: str) -> int:
    """A run, then one retryable failure: the second attempt must replay the run, not repeat it."""
    executions = await ctx.run_typed("effect", lambda: effects.record(f"{name}.effect"))
    if effects.count(f"{name}.failure") == 0:
        effects.record(f"{name}.failure")
        raise RuntimeError("transient failure after the run")
    return executions


@runs.handler()
async def flaky(ctx: restate.Context, req: dict[str, Any]) -> int:
    """A run that fails (retryably) until its `succeed_on`-th execution."""
    name = req["name"]

    def attempt() -> int:
        n = effects.record(f"{name}.try")
        if n < req["succeed_on"]:
            raise RuntimeError(f"execution {n} fails")
        return n

    if req.get("max_attempts"):
        options: restate.RunOptions[int] = restate.RunOptions(
            max_attempts=req["max_attempts"], initial_retry_interval=timedelta(milliseconds=10)
        )
        return await ctx.run_typed("flaky", attempt, options)
    return await ctx.run_typed("flaky", attempt)


@runs.handler()
async def exhausted(ctx: restate.Context, req: dict[str, Any]) -> dict[str, Any]:
    """A run that always fails, with max_attempts: the give-up must surface as TerminalError."""
    name = req["name"]

    def attempt() -> None:
        effects.record(f"{name}.try")
        raise RuntimeError("this step always fails")

    options: restate.RunOptions[None] = restate.RunOptions(
        max_attempts=req["max_attempts"], initial_retry_interval=timedelta(milliseconds=10)
    )
    try:
        await ctx.run_typed("doomed", attempt, options)
    except restate.TerminalError as exc:
        return {"terminal": True, "message": exc.message}
    return {"terminal": False}


nondeterministic = restate.Service("NonDeterministic")


@nondeterministic.handler()
async def flip(ctx: restate.Context, name: str) -> str:
    """The first attempt journals a run, later ones a sleep at the same position: mismatch 570."""
    if effects.record(f"{name}.attempt") == 1:
        await ctx.run_typed("step", lambda: "first")
        raise RuntimeError("fail so that the next attempt replays the journal")
    await ctx.sleep(timedelta(milliseconds=1))
    return "a replay must never get here"
