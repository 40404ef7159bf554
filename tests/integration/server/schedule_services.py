"""A perdure-SDK app with a code schedule ticking every second, for the schedule crash test.

Run as `python -m hypercorn schedule_services:app --bind 127.0.0.1:PORT` with this folder on
PYTHONPATH. Every run of the handler appends `<tick> <invocation id>` to the file named by
`PERDURE_SCHEDULE_RUNS` (runs repeated by retries included, so the test sees them all).
"""

from __future__ import annotations

import os
from pathlib import Path

import perdure

RUNS = Path(os.environ.get("PERDURE_SCHEDULE_RUNS", "runs"))

cron = perdure.Service("Cron")


@cron.handler()
async def tick(ctx: perdure.Context) -> None:
    when = ctx.request().headers["x-perdure-schedule-tick"]
    with RUNS.open("a") as runs:  # noqa: ASYNC230 (one short line; the test reads it)
        runs.write(f"{when} {ctx.request().id}\n")


app = perdure.app(
    [cron],
    schedules=[
        perdure.Schedule("* * * * * *", tick, name="every-second", catch_up="all", overlap="allow")
    ],
)
