"""The workloads' services, one file for both SDKs: PERDURE_BENCH_SDK=restate serves them on the
official restate-sdk (hypercorn `bench_services:app`), anything else on perdure's SDK (`perdure
serve` / `perdure dev bench_services.py`). Same code on both: only the import differs."""

from __future__ import annotations

import os
from datetime import timedelta

if os.environ.get("PERDURE_BENCH_SDK") == "restate":
    import restate
else:
    import perdure as restate  # type: ignore[no-redef]

# W1: a no-op service handler (it echoes its input so the caller can check the answer).
noop = restate.Service("Noop")


@noop.handler()
async def echo(ctx: restate.Context, n: int) -> int:
    return n


# W2: a sign-up workflow run to completion: a state write, three journaled steps, a uuid.
signup = restate.Workflow("SignUp")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    user = await ctx.run_typed("create-user", lambda: f"user-{email}")
    secret = str(ctx.uuid())
    await ctx.run_typed("send-email", lambda: len(secret))
    await ctx.run_typed("record-sent", lambda: True)
    return f"{user}:{secret}"


# W3: a counter object, one get and one set per add; `get` reads it for the exact-count check.
counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", value)
    return value


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


# W4: fan-out: ten calls to the no-op handler, all in flight, gathered.
fanout = restate.Service("Fanout")

FANOUT_WIDTH = 10


@fanout.handler(name="run")
async def fan_out(ctx: restate.Context, n: int) -> int:
    calls = [ctx.service_call(echo, arg=n + i) for i in range(FANOUT_WIDTH)]
    await restate.gather(*calls)
    total = 0
    for call in calls:
        total += await call
    return total


# W5: a 100 ms durable sleep (timer precision: the caller reports latency - 100 ms).
sleeper = restate.Service("Sleeper")

SLEEP_MS = 100


@sleeper.handler()
async def nap(ctx: restate.Context, n: int) -> int:
    await ctx.sleep(timedelta(milliseconds=SLEEP_MS))
    return n


app = restate.app(services=[noop, signup, counter, fanout, sleeper])
