"""Awakeables, select/timeout, and cancellation with compensation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import interop_effects as effects
from interop_sdk import restate

awakeables = restate.VirtualObject("Awakeables")


@awakeables.handler()
async def wait(ctx: restate.ObjectContext) -> str:
    awakeable_id, future = ctx.awakeable()
    ctx.set("awakeable", awakeable_id)
    return await future


@awakeables.handler()
async def wait_or_timeout(ctx: restate.ObjectContext, timeout_ms: int) -> str:
    awakeable_id, future = ctx.awakeable()
    ctx.set("awakeable", awakeable_id)
    timeout = ctx.sleep(timedelta(milliseconds=timeout_ms))
    match await restate.select(awakeable=future, timeout=timeout):
        case ["awakeable", value]:
            return f"awakeable:{value}"
        case ["timeout", _]:
            return "timeout"
    raise AssertionError("select returned neither branch")


@awakeables.handler(kind="shared")
async def awakeable_id(ctx: restate.ObjectSharedContext) -> str | None:
    return await ctx.get("awakeable")


resolver = restate.Service("AwakeableResolver")


@resolver.handler()
async def resolve(ctx: restate.Context, req: dict[str, Any]) -> None:
    ctx.resolve_awakeable(req["id"], req["value"])


@resolver.handler()
async def reject(ctx: restate.Context, req: dict[str, Any]) -> None:
    ctx.reject_awakeable(req["id"], req["reason"])


blocker = restate.VirtualObject("Blocker")


@blocker.handler()
async def block_forever(ctx: restate.ObjectContext) -> None:
    """The callee of a cancelled call: blocks until cancellation reaches it too."""
    key = ctx.key()
    _, future = ctx.awakeable()
    effects.record(f"{key}.blocked")
    try:
        await future
    except restate.TerminalError as exc:
        code = exc.status_code
        await ctx.run_typed("cancelled", lambda: effects.record(f"{key}.cancelled", str(code)))
        raise


cancellable = restate.VirtualObject("Cancellable")


@cancellable.handler()
async def block(ctx: restate.ObjectContext, mode: str) -> str:
    """Blocks in a call, a sleep or an awakeable; on cancellation, compensates and re-raises."""
    key = ctx.key()
    # Outside the journal, so it may repeat on replays; the test only waits for it to appear.
    effects.record(f"{key}.blocking", mode)
    try:
        if mode == "call":
            await ctx.object_call(block_forever, key=f"{key}-child", arg=None)
        elif mode == "sleep":
            await ctx.sleep(timedelta(days=1))
        elif mode == "awakeable":
            _, future = ctx.awakeable()
            await future
        else:
            raise restate.TerminalError(f"unknown mode {mode!r}", status_code=400)
    except restate.TerminalError as exc:
        code = exc.status_code
        ctx.set("compensated", code)
        await ctx.run_typed("compensate", lambda: effects.record(f"{key}.compensation", str(code)))
        raise
    return "not cancelled"


@cancellable.handler(kind="shared")
async def compensated(ctx: restate.ObjectSharedContext) -> int | None:
    return await ctx.get("compensated")
