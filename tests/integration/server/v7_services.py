"""Services written with the official restate-sdk 1.2.0 that need protocol V7: named
signals, scoped calls with a limit key, and ctx.run (acknowledged with
ProposeRunCompletionAck in V7). Served with hypercorn, this folder on PYTHONPATH."""

from __future__ import annotations

import restate
from restate import Context

v7 = restate.Service("V7")


@v7.handler()
async def wait_signal(ctx: Context) -> str:
    return await ctx.signal("go", type_hint=str)


@v7.handler()
async def send_signal(ctx: Context, request: dict[str, str]) -> None:
    if request.get("reject"):
        ctx.reject_signal(request["id"], "go", request["reject"], 418)
    else:
        ctx.resolve_signal(request["id"], "go", request["value"])


@v7.handler()
async def steps(ctx: Context) -> int:
    total = 0
    for n in range(1, 4):
        total += await ctx.run_typed(f"step-{n}", lambda n=n: n * 10)
    return total


@v7.handler()
async def scoped(ctx: Context, n: int) -> dict[str, object]:
    return await ctx.scope("tenant-a").service_call(leaf, n, limit_key="k1")


@v7.handler()
async def leaf(ctx: Context, n: int) -> dict[str, object]:
    request = ctx.request()
    return {"n": n, "scope": request.scope, "limit_key": request.limit_key}


app = restate.app(services=[v7])
