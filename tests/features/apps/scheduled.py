"""An app for `perdure dev` with a code schedule (every 2 s), a service the CLI schedules,
a concurrency limit of 1 on `Reports/slow`, and a step that heartbeats under a timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import perdure

reports = perdure.Service("Reports")


@reports.handler()
async def build(ctx: perdure.Context, name: str) -> str:
    return f"{name} at {ctx.request().headers.get('x-perdure-schedule-tick')}"


@reports.handler(concurrency=1)
async def slow(ctx: perdure.Context, seconds: float) -> str:
    await asyncio.sleep(seconds)  # holds its slot: the others queue behind it
    return "done"


@reports.handler()
async def beat(ctx: perdure.Context) -> str:
    def step() -> str:
        for _ in range(3):
            ctx.heartbeat()  # a no-op where the server does not offer heartbeats
        return "beat"

    options = perdure.RunOptions[str](timeout=timedelta(seconds=30))
    return await ctx.run_typed("step", step, options)


app = perdure.app(
    [reports],
    schedules=[perdure.Schedule("*/2 * * * * *", build, "daily", name="often")],
)
