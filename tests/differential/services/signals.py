"""Handlers that suspend on signals, for a request-response deployment (every await
suspends there): a named signal (protocol V6 SendSignal by name), an awakeable, and a
handler that resolves either."""

from __future__ import annotations

from typing import Any

from diff_sdk import named, restate

waiter = restate.VirtualObject(named("Waiter"))
notifier = restate.Service(named("Notifier"))


@waiter.handler()
async def awakeable(ctx: restate.ObjectContext) -> str:
    awakeable_id, future = ctx.awakeable()
    ctx.set("awakeable", awakeable_id)
    return f"got {await future}"


@waiter.handler(kind="shared")
async def awakeable_id(ctx: restate.ObjectSharedContext) -> str | None:
    return await ctx.get("awakeable")


@notifier.handler()
async def resolve_twice(ctx: restate.Context, req: dict[str, Any]) -> None:
    ctx.resolve_awakeable(req["id"], req["first"])
    ctx.resolve_awakeable(req["id"], req["second"])


if hasattr(restate.Context, "signal"):  # named signals: the official SDK only

    @waiter.handler()
    async def named_signal(ctx: restate.ObjectContext, name: str) -> str:
        return f"got {await ctx.signal(name)}"

    @notifier.handler()
    async def signal(ctx: restate.Context, req: dict[str, Any]) -> None:
        ctx.resolve_signal(req["id"], req["name"], req["value"])
