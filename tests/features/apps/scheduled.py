"""An app for `perdure dev` with a code schedule (every 2 s) and a service the CLI schedules."""

from __future__ import annotations

import perdure

reports = perdure.Service("Reports")


@reports.handler()
async def build(ctx: perdure.Context, name: str) -> str:
    return f"{name} at {ctx.request().headers.get('x-perdure-schedule-tick')}"


app = perdure.app(
    [reports],
    schedules=[perdure.Schedule("*/2 * * * * *", build, "daily", name="often")],
)
