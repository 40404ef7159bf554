"""The service endpoint both servers drive in bench/throughput.py: `perdure serve bench_app.py`."""

from __future__ import annotations

import perdure as restate

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    """One state read and one state write per call."""
    value = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", value)
    return value


steps = restate.Service("Steps")


@steps.handler()
async def run(ctx: restate.Context, n: int) -> int:
    """Three journaled `ctx.run` steps."""
    a = await ctx.run_typed("one", lambda: n + 1)
    b = await ctx.run_typed("two", lambda: a + 1)
    return await ctx.run_typed("three", lambda: b + 1)


app = restate.app(services=[counter, steps])
