"""Services for the in-flight crash test, written with the official restate-sdk.

Run as `python -m hypercorn crash_services:app --bind 127.0.0.1:PORT` with this folder on
PYTHONPATH. `PERDURE_CRASH_SIDE_FILE` names a file outside the journal where `ctx.run`
bodies append one line per event (`<event> <invocation id> <step> <nonce>`), so the test
sees every real execution, duplicates included. A blocked run body waits until the file
`PERDURE_CRASH_RELEASE_DIR/<step>` exists.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import restate
from restate import Context, ObjectContext, ObjectSharedContext

SIDE_FILE = Path(os.environ.get("PERDURE_CRASH_SIDE_FILE", "side-effects"))
RELEASE_DIR = Path(os.environ.get("PERDURE_CRASH_RELEASE_DIR", "release"))
# A blocked body gives up after this long, so a broken test cannot leave it waiting forever.
BLOCK_LIMIT_S = 60.0


def side_effect(event: str, invocation_id: str, step: str, nonce: str) -> None:
    # O_APPEND + fsync: one whole line per event, on disk before the body returns.
    with SIDE_FILE.open("a") as f:
        f.write(f"{event} {invocation_id} {step} {nonce}\n")
        f.flush()
        os.fsync(f.fileno())


counter = restate.VirtualObject("CrashCounter")


@counter.handler()
async def add(ctx: ObjectContext, value: int) -> int:
    new = (await ctx.get("value", type_hint=int) or 0) + value
    ctx.set("value", new)
    return new


@counter.handler(name="get", kind="shared")
async def get_value(ctx: ObjectSharedContext) -> int:
    return await ctx.get("value", type_hint=int) or 0


sleeper = restate.Service("CrashSleeper")


@sleeper.handler()
async def sleep(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}"


box = restate.VirtualObject("CrashBox")


@box.handler()
async def hold_awakeable(ctx: ObjectContext) -> str:
    """Holds the key's lock while it waits on an awakeable whose id it publishes in state."""
    awakeable_id, future = ctx.awakeable(type_hint=str)
    ctx.set("awakeable", awakeable_id)
    value = await future
    await _append(ctx, f"woke:{value}")
    return value


@box.handler()
async def hold_sleeping(ctx: ObjectContext, ms: int) -> str:
    """Holds the key's lock across a durable sleep."""
    await ctx.sleep(timedelta(milliseconds=ms))
    await _append(ctx, f"slept:{ms}")
    return f"slept {ms}"


@box.handler()
async def append(ctx: ObjectContext, item: str) -> list[str]:
    return await _append(ctx, item)


async def _append(ctx: ObjectContext, item: str) -> list[str]:
    items = await ctx.get("log", type_hint=list[str]) or []
    items.append(item)
    ctx.set("log", items)
    return items


@box.handler(kind="shared")
async def awakeable(ctx: ObjectSharedContext) -> str | None:
    return await ctx.get("awakeable", type_hint=str)


@box.handler(name="log", kind="shared")
async def get_log(ctx: ObjectSharedContext) -> list[str]:
    return await ctx.get("log", type_hint=list[str]) or []


runner = restate.Service("CrashRunner")


@runner.handler()
async def two_steps(ctx: Context, tag: str) -> str:
    """`quick` completes at once; `blocked` runs until the test releases it."""
    invocation_id = ctx.request().id

    def quick() -> str:
        nonce = uuid.uuid4().hex[:8]
        side_effect("exec", invocation_id, "quick", nonce)
        return nonce

    async def blocked() -> str:
        nonce = uuid.uuid4().hex[:8]
        side_effect("start", invocation_id, "blocked", nonce)
        release = RELEASE_DIR / tag
        deadline = time.monotonic() + BLOCK_LIMIT_S
        while not release.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{release} never appeared")
            await asyncio.sleep(0.02)
        side_effect("exec", invocation_id, "blocked", nonce)
        return nonce

    first = await ctx.run_typed("quick", quick)
    second = await ctx.run_typed("blocked", blocked)
    return f"{first}/{second}"


app = restate.app([counter, sleeper, box, runner])
