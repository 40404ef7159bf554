"""Actors with sleeps and retries (Restate's "actor" pattern): a worker object sleeps,
then runs a flaky step that fails retryably a number of times before it succeeds, or,
with too few attempts, gives up with a terminal error."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from diff_sdk import named, restate

workers = restate.VirtualObject(named("Worker"))
_executions: Counter[str] = Counter()  # per endpoint process: tasks have unique names


@workers.handler()
async def work(ctx: restate.ObjectContext, task: dict[str, Any]) -> dict[str, Any]:
    await ctx.sleep(timedelta(milliseconds=task.get("sleep_ms", 50)))

    def flaky() -> int:
        _executions[task["name"]] += 1
        if _executions[task["name"]] <= task["failures"]:
            raise RuntimeError(f"attempt {_executions[task['name']]} failed")
        return _executions[task["name"]]

    options: restate.RunOptions[int] = restate.RunOptions(
        max_attempts=task["max_attempts"], initial_retry_interval=timedelta(milliseconds=10)
    )
    try:
        attempts = await ctx.run_typed("flaky step", flaky, options)
    except restate.TerminalError as exc:
        ctx.set("last", "gave up")
        raise restate.TerminalError(f"gave up on {task['name']}: {exc.message}") from exc
    done = (await ctx.get("done") or 0) + 1
    ctx.set("done", done)
    ctx.set("last", task["name"])
    return {"attempts": attempts, "done": done}


@workers.handler(kind="shared")
async def last(ctx: restate.ObjectSharedContext) -> str | None:
    return await ctx.get("last")
