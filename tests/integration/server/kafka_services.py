"""A perdure-SDK virtual object that Kafka records invoke: each record's value is appended
to the state of the object keyed by the record's key, so the test reads back the order."""

from __future__ import annotations

import perdure

orders = perdure.VirtualObject("Orders")


@orders.handler()
async def add(ctx: perdure.ObjectContext, value: str) -> None:
    seen = await ctx.get("seen", type_hint=list[str]) or []
    seen.append(value)
    ctx.set("seen", seen)


@orders.handler(kind="shared")
async def seen(ctx: perdure.ObjectSharedContext) -> list[str]:
    return await ctx.get("seen", type_hint=list[str]) or []


app = perdure.app([orders])
