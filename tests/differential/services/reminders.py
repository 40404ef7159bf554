"""Queueing with delays and cancellation (Restate's "cron"/reminder pattern): `schedule`
sends itself a delayed `fire` with an idempotency key and keeps its invocation id;
`cancel` cancels that invocation (`ctx.cancel_invocation`) before it fires."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from diff_sdk import named, restate

reminders = restate.VirtualObject(named("Reminders"))


@reminders.handler()
async def schedule(ctx: restate.ObjectContext, req: dict[str, Any]) -> str:
    handle = ctx.object_send(
        fire,
        key=ctx.key(),
        arg=req["name"],
        send_delay=timedelta(milliseconds=req["delay_ms"]),
        idempotency_key=f"reminder-{req['name']}",
    )
    invocation_id = await handle.invocation_id()
    ctx.set(f"pending:{req['name']}", invocation_id)
    return invocation_id


@reminders.handler()
async def cancel(ctx: restate.ObjectContext, name: str) -> bool:
    invocation_id = await ctx.get(f"pending:{name}")
    if invocation_id is None:
        return False
    ctx.cancel_invocation(invocation_id)
    ctx.clear(f"pending:{name}")
    return True


@reminders.handler()
async def fire(ctx: restate.ObjectContext, name: str) -> str:
    fired = await ctx.get("fired") or []
    ctx.set("fired", [*fired, name])
    ctx.clear(f"pending:{name}")
    return f"fired {name}"


@reminders.handler(kind="shared")
async def fired(ctx: restate.ObjectSharedContext) -> list[str]:
    return await ctx.get("fired") or []
