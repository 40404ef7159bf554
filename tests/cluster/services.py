"""Services of the cluster tests, served by `perdure serve` (one process for all nodes).

- `Counter` (virtual object): `add` adds to the key's total and returns it; `get` reads it.
- `Flow` (workflow): a durable step, a durable sleep, a call to a counter of another key
  (another partition), then it waits for its `confirm` promise.
- `Fanout` (service): calls `Counter/add` on each key it is given (calls that cross
  partitions, with results).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import perdure as restate
from perdure import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, value: int) -> int:
    total = (await ctx.get("total", type_hint=int) or 0) + value
    ctx.set("total", total)
    return total


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("total", type_hint=int) or 0


flow = restate.Workflow("Flow")


@flow.main()
async def run(ctx: WorkflowContext, amount: int) -> str:
    token = await ctx.run("token", lambda: uuid.uuid4().hex)
    await ctx.sleep(timedelta(milliseconds=200))
    total = await ctx.object_call(add, key=f"flow-{ctx.key()}", arg=amount)
    confirmed = await ctx.promise("confirm", type_hint=str).value()
    return f"{token}:{total}:{confirmed}"


@flow.handler()
async def confirm(ctx: WorkflowSharedContext, value: str) -> None:
    await ctx.promise("confirm", type_hint=str).resolve(value)


fanout = restate.Service("Fanout")


@fanout.handler()
async def spread(ctx: Context, keys: list[str]) -> int:
    for key in keys:
        await ctx.object_call(add, key=key, arg=1)
    return len(keys)


app = restate.app(services=[counter, flow, fanout])
