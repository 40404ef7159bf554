"""Services for the resource-fault tests (perdure's SDK, hosted by `perdure dev`)."""

from __future__ import annotations

from datetime import timedelta

import perdure
from perdure import ObjectContext, ObjectSharedContext, WorkflowContext

counter = perdure.VirtualObject("Tally")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + n
    ctx.set("count", value)
    return value


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


later = perdure.Service("Later")


@later.handler()
async def add_after(ctx: perdure.Context, request: dict[str, int | str]) -> str:
    """Sleep durably, then add to a counter: in flight across a fault."""
    await ctx.sleep(timedelta(milliseconds=int(request["ms"])))
    await ctx.object_call(add, key=str(request["key"]), arg=int(request["n"]))
    return "added"


nap = perdure.Workflow("Nap")


@nap.main()
async def run(ctx: WorkflowContext, hours: int) -> str:
    """A workflow that sleeps for hours: suspended the whole time (the memory test)."""
    await ctx.sleep(timedelta(hours=hours))
    return "woke"


app = perdure.app(services=[counter, later, nap])
