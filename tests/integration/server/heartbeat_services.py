"""perdure-SDK services with long steps, for the heartbeat test over HTTP: the abort
timeout is 2 s; `beating` heartbeats through a 6 s step, `silent` does not."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import perdure

STARTS = Path(os.environ.get("PERDURE_HEARTBEAT_STARTS", "starts"))

steps = perdure.Service(
    "LongSteps", inactivity_timeout=timedelta(seconds=1), abort_timeout=timedelta(seconds=2)
)


def _started(name: str) -> int:
    with STARTS.open("a") as f:
        f.write(name + "\n")
    return STARTS.read_text().splitlines().count(name)


@steps.handler()
async def beating(ctx: perdure.Context) -> str:
    def body() -> str:
        _started("beating")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            ctx.heartbeat()
            time.sleep(0.5)
        return "done"

    return await ctx.run("long", body)


@steps.handler()
async def silent(ctx: perdure.Context) -> str:
    def body() -> str:
        if _started("silent") == 1:
            time.sleep(6)  # no heartbeat: aborted after inactivity + abort timeout
        return "done"

    return await ctx.run("long", body)


app = perdure.app([steps])
