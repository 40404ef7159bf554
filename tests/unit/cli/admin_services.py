"""Services (official restate-sdk 1.2.0) that the admin command tests register and invoke.

Served with `python -m hypercorn admin_services:app` with this folder on PYTHONPATH.
"""

from __future__ import annotations

from datetime import timedelta

import restate
from restate import Context, ObjectContext, ObjectSharedContext

greeter = restate.Service("CliGreeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"hello {name}"


@greeter.handler()
async def snooze(ctx: Context, seconds: int) -> str:
    # Long enough that the test cancels or kills it while it waits on its timer.
    await ctx.sleep(timedelta(seconds=seconds))
    return "woke up"


tally = restate.VirtualObject("CliTally")


@tally.handler()
async def add(ctx: ObjectContext, value: int) -> int:
    total = (await ctx.get("total", type_hint=int) or 0) + value
    ctx.set("total", total)
    return total


@tally.handler(kind="shared")
async def peek(ctx: ObjectSharedContext) -> int:
    return await ctx.get("total", type_hint=int) or 0


app = restate.app(services=[greeter, tally])
