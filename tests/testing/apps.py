"""Small apps the perdure.testing tests run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import perdure
from perdure.testing import side_effect

timers = perdure.Service("Timers")


@timers.handler()
async def nap(ctx: perdure.Context, hours: int) -> str:
    """Sleeps `hours`, marking a side effect after each hour (in a durable step)."""
    for hour in range(1, hours + 1):
        await ctx.sleep(timedelta(hours=1))
        await ctx.run_typed("hour", side_effect, perdure.RunOptions(), f"nap{hours}:{hour}")
    return "rested"


@timers.handler()
async def week(ctx: perdure.Context) -> float:
    await ctx.sleep(timedelta(days=7))
    return await ctx.time()


waiting = perdure.Service("Waiting")


@waiting.handler()
async def forever(ctx: perdure.Context) -> str:
    _, promise = ctx.awakeable(type_hint=str)
    return await promise


@waiting.handler()
async def stuck_step(ctx: perdure.Context) -> None:
    """A durable step that never ends: only the abort timeout ends its attempt."""

    async def hang() -> None:
        await asyncio.Event().wait()

    await ctx.run_typed("hang", hang)


broken = perdure.Service("Broken")


@broken.handler()
async def welcome(ctx: perdure.Context, name: str) -> str:
    """A side effect outside ctx.run: it repeats whenever the handler replays."""
    await ctx.run_typed("create", side_effect, perdure.RunOptions(), "create")
    side_effect("e-mail")
    await ctx.sleep(timedelta(minutes=5))
    return f"welcome {name}"


@broken.handler()
async def count(ctx: perdure.Context, n: int) -> int:
    """A ctx.run whose result is ignored on replay: it only reaches a local list."""
    seen: list[int] = []
    await ctx.run_typed("load", seen.append, perdure.RunOptions(), n)
    await ctx.sleep(timedelta(seconds=1))
    return len(seen)


app = perdure.app(services=[timers, waiting, broken])
