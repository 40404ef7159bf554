"""State, errors, timers and service-to-service calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import interop_effects as effects
from interop_sdk import restate

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    value = (await ctx.get("count") or 0) + delta
    ctx.set("count", value)
    return value


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return await ctx.get("count") or 0


errors = restate.Service("Errors")


@errors.handler()
async def fail(ctx: restate.Context, req: dict[str, Any]) -> None:
    raise restate.TerminalError(req["message"], status_code=req["code"], metadata=req["metadata"])


timers = restate.Service("Timers")


@timers.handler()
async def sleep(ctx: restate.Context, millis: int) -> str:
    await ctx.sleep(timedelta(milliseconds=millis))
    return "woke up"


caller = restate.Service("Caller")


@caller.handler()
async def call_add(ctx: restate.Context, req: dict[str, Any]) -> int:
    return await ctx.object_call(add, key=req["key"], arg=req["delta"])


@caller.handler()
async def send_add(ctx: restate.Context, req: dict[str, Any]) -> str:
    """One-way Counter.add, optionally delayed and/or idempotent; returns its invocation id."""
    delay = req.get("delay_ms")
    handle = ctx.object_send(
        add,
        key=req["key"],
        arg=req["delta"],
        send_delay=timedelta(milliseconds=delay) if delay else None,
        idempotency_key=req.get("idempotency_key"),
    )
    return await handle.invocation_id()


@caller.handler()
async def call_add_idempotent_twice(ctx: restate.Context, req: dict[str, Any]) -> list[int]:
    """Two calls with one idempotency key: the second must get the first one's result."""
    key, delta, ikey = req["key"], req["delta"], req["ikey"]
    first = await ctx.object_call(add, key=key, arg=delta, idempotency_key=ikey)
    second = await ctx.object_call(add, key=key, arg=delta, idempotency_key=ikey)
    return [first, second]


@caller.handler()
async def gather_adds(ctx: restate.Context, req: dict[str, Any]) -> list[int]:
    futures = [ctx.object_call(add, key=key, arg=req["delta"]) for key in req["keys"]]
    done = await restate.gather(*futures)
    return [await f for f in done]


marker = restate.Service("Marker")


@marker.handler()
async def mark(ctx: restate.Context, name: str) -> int:
    """Records that this handler ran (outside the journal); returns how often it has."""
    return await ctx.run_typed("mark", lambda: effects.record(f"{name}.marked"))
