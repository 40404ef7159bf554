"""Services written with the official restate-sdk, served by hypercorn for the server tests.

Run as `python -m hypercorn sdk_services:app --bind 127.0.0.1:PORT` with this folder on
PYTHONPATH. `PERDURE_TEST_EFFECTS` names a file where side effects append one line each,
so a test can count how often a `ctx.run` body really executed.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import restate
from restate import Context, ObjectContext, ObjectSharedContext
from restate.exceptions import RetryableError

EFFECTS_FILE = os.environ.get("PERDURE_TEST_EFFECTS", "")


def record_effect(line: str) -> None:
    with open(EFFECTS_FILE, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def effects() -> list[str]:
    try:
        with open(EFFECTS_FILE) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, value: int) -> dict[str, int]:
    old = await ctx.get("counter", type_hint=int) or 0
    new = old + value
    ctx.set("counter", new)
    return {"oldValue": old, "newValue": new}


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("counter", type_hint=int) or 0


@counter.handler()
async def reset(ctx: ObjectContext) -> None:
    ctx.clear_all()


list_object = restate.VirtualObject("ListObject")


@list_object.handler()
async def append(ctx: ObjectContext, value: str) -> None:
    items = await ctx.get("list", type_hint=list[str]) or []
    items.append(value)
    ctx.set("list", items)


@list_object.handler(name="get", kind="shared")
async def get_list(ctx: ObjectSharedContext) -> list[str]:
    return await ctx.get("list", type_hint=list[str]) or []


@list_object.handler()
async def slow_append(ctx: ObjectContext, value: str) -> None:
    """Holds the key's lock across a suspension (sleep) before appending."""
    await ctx.sleep(timedelta(milliseconds=300))
    items = await ctx.get("list", type_hint=list[str]) or []
    items.append(value)
    ctx.set("list", items)


steps = restate.Service("Steps")


@steps.handler()
async def run_once_then_fail(ctx: Context, tag: str) -> str:
    """The run body executes once; the handler then fails twice and is retried."""

    def effect() -> str:
        record_effect(f"run:{tag}")
        return f"value-{tag}"

    value = await ctx.run_typed("effect", effect)
    record_effect(f"after:{tag}")
    if effects().count(f"after:{tag}") < 3:
        raise RuntimeError("transient failure, please retry")
    return value


@steps.handler()
async def sleep_for(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}"


@steps.handler()
async def terminal(ctx: Context, message: str) -> None:
    raise restate.TerminalError(message, status_code=418)


@steps.handler()
async def retry_after(ctx: Context, tag: str) -> int:
    """Fails twice asking for a 50 ms retry delay, then succeeds."""
    record_effect(f"attempt:{tag}")
    attempts = effects().count(f"attempt:{tag}")
    if attempts < 3:
        raise RetryableError("not yet", retry_after=timedelta(milliseconds=50))
    return attempts


proxy = restate.Service("Proxy")


@proxy.handler()
async def call(ctx: Context, req: dict[str, Any]) -> Any:
    result = await ctx.generic_call(
        req["service"],
        req["handler"],
        arg=req["body"].encode(),
        key=req.get("key"),
        idempotency_key=req.get("idempotencyKey"),
    )
    return result.decode()


@proxy.handler()
async def send(ctx: Context, req: dict[str, Any]) -> str:
    delay = req.get("delayMillis")
    handle = ctx.generic_send(
        req["service"],
        req["handler"],
        arg=req["body"].encode(),
        key=req.get("key"),
        send_delay=timedelta(milliseconds=delay) if delay else None,
        idempotency_key=req.get("idempotencyKey"),
    )
    return await handle.invocation_id()


approval = restate.Workflow("Approval")


@approval.main()
async def run(ctx: restate.WorkflowContext, name: str) -> str:
    ctx.set("name", name)
    answer = await ctx.promise("answer", type_hint=str).value()
    return f"{name}:{answer}"


@approval.handler()
async def approve(ctx: restate.WorkflowSharedContext, answer: str) -> bool:
    await ctx.promise("answer", type_hint=str).resolve(answer)
    return True


@approval.handler()
async def peek(ctx: restate.WorkflowSharedContext) -> str | None:
    return await ctx.promise("answer", type_hint=str).peek()


blocker = restate.VirtualObject("Blocker")


@blocker.handler()
async def block(ctx: ObjectContext) -> str:
    """Waits on an awakeable whose id it publishes in its state."""
    awakeable_id, future = ctx.awakeable(type_hint=str)
    ctx.set("awakeable", awakeable_id)
    return await future


@blocker.handler(kind="shared")
async def awakeable(ctx: ObjectSharedContext) -> str | None:
    return await ctx.get("awakeable", type_hint=str)


@blocker.handler()
async def ping(ctx: ObjectContext) -> str:
    return "pong"


utils = restate.Service("Utils")


@utils.handler()
async def cancel(ctx: Context, invocation_id: str) -> None:
    ctx.cancel_invocation(invocation_id)


@utils.handler()
async def attach(ctx: Context, invocation_id: str) -> Any:
    return await ctx.attach_invocation(invocation_id)


@utils.handler()
async def resolve(ctx: Context, req: dict[str, str]) -> None:
    ctx.resolve_awakeable(req["id"], req["value"])


app = restate.app([counter, list_object, steps, proxy, approval, blocker, utils])
