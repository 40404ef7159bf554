"""Served by `perdure dev` in tests/observe: a handler that sleeps (and so suspends when the
inactivity timeout is 0) and one whose attempts keep failing."""

from __future__ import annotations

from datetime import timedelta

import perdure

steps = perdure.Service("Steps")


@steps.handler()
async def nap(ctx: perdure.Context, name: str) -> str:
    await ctx.sleep(timedelta(milliseconds=50))
    return f"rested {name}"


@steps.handler()
async def broken(ctx: perdure.Context) -> None:
    raise RuntimeError("always fails (retried)")


app = perdure.app(services=[steps])
