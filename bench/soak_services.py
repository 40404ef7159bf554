"""The soak's services, on perdure's SDK: an interpreter of the programs of soak_programs.py
(read its docstring for the steps), the counters they add to, a worker and an awakeable
resolver.

`perdure dev bench/soak_services.py` hosts all of them; `perdure serve` hosts the set that
SOAK_SERVICES names ("bidi": SoakProgram, SoakCounter, SoakResolver; "http1": SoakTask,
SoakWorker; default all), so that `perdure server` reaches some over HTTP/2 and some over
HTTP/1.1.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import perdure
from perdure import ObjectContext, ObjectSharedContext, RunOptions, TerminalError

FAIL_STATUS = 422

counter = perdure.VirtualObject("SoakCounter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + n
    ctx.set("count", value)
    return value


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


worker = perdure.Service("SoakWorker")


@worker.handler()
async def compute(ctx: perdure.Context, x: int) -> int:
    return await ctx.run_typed("compute", lambda: 3 * x + 1)


resolver = perdure.Service("SoakResolver")


@resolver.handler()
async def settle(ctx: perdure.Context, request: dict[str, Any]) -> None:
    if request["reject"]:
        ctx.reject_awakeable(request["id"], f"rejected:{request['value']}", FAIL_STATUS)
    else:
        ctx.resolve_awakeable(request["id"], request["value"])


# Executions that already failed once, per (invocation id, step): in this process only, so a
# restarted endpoint fails the step once more, which the journal must absorb as well.
_FAILED_ONCE: set[tuple[str, int]] = set()


def _flaky(invocation_id: str, index: int, value: int) -> int:
    if (invocation_id, index) not in _FAILED_ONCE:
        _FAILED_ONCE.add((invocation_id, index))
        raise RuntimeError(f"step {index} fails on its first execution")
    return value


def _terminal(message: str) -> int:
    raise TerminalError(message, FAIL_STATUS)


# The SDK counts every attempt since the step was stored, those that failed because the
# endpoint was down included: room for the faults, so only the step's own failure is seen.
_IN_SDK_RETRY: RunOptions[int] = RunOptions(
    max_attempts=100, initial_retry_interval=timedelta(milliseconds=10)
)


async def _interpret(
    ctx: ObjectContext, steps: list[list[Any]], done: list[list[Any]]
) -> list[Any]:
    """Run `steps`; append each top-level add/send to `done` (what a failure compensates)."""
    out: list[Any] = []
    invocation_id = ctx.request().id
    for index, step in enumerate(steps):
        kind = step[0]
        if kind == "add":
            await ctx.object_call(add, key=step[1], arg=step[2])
            done.append(step)
            out.append("a")
        elif kind == "send":
            delay = timedelta(milliseconds=step[3]) if step[3] else None
            ctx.object_send(add, key=step[1], arg=step[2], send_delay=delay)
            done.append(step)
            out.append("s")
        elif kind == "run":
            value = step[1]
            out.append(await ctx.run_typed(f"run-{index}", lambda v=value: v))
        elif kind == "flaky":
            options = _IN_SDK_RETRY if step[2] else RunOptions[int]()
            out.append(
                await ctx.run_typed(
                    f"flaky-{index}", _flaky, options, invocation_id, index, step[1]
                )
            )
        elif kind == "caught":
            try:
                await ctx.run_typed(f"caught-{index}", _terminal, RunOptions[int](), step[1])
            except TerminalError as exc:
                out.append(f"caught:{exc.message}")
        elif kind == "sleep":
            await ctx.sleep(timedelta(milliseconds=step[1]))
            out.append("z")
        elif kind == "state":
            ctx.set(step[1], step[2])
            out.append(await ctx.get(step[1], type_hint=int))
        elif kind == "awake":
            awakeable_id, future = ctx.awakeable(type_hint=int)
            delay = timedelta(milliseconds=step[2]) if step[2] else None
            request = {"id": awakeable_id, "value": step[1], "reject": step[3]}
            ctx.service_send(settle, arg=request, send_delay=delay)
            try:
                out.append(await future)
            except TerminalError as exc:
                out.append(exc.message)
        elif kind == "work":
            out.append(await ctx.service_call(compute, arg=step[1]))
        elif kind == "task":
            out.append(await ctx.object_call(run_task, key=step[1], arg={"steps": step[2]}))
        else:
            raise TerminalError(f"unknown step {step!r}", 400)
    return out


program = perdure.VirtualObject("SoakProgram")


@program.handler(name="run")
async def run_program(ctx: ObjectContext, body: dict[str, Any]) -> list[Any]:
    steps, fail_at = body["steps"], body.get("fail_at")
    done: list[list[Any]] = []
    if fail_at is None:
        return await _interpret(ctx, steps, done)
    await _interpret(ctx, steps[:fail_at], done)
    try:
        await ctx.run_typed("fail", _terminal, RunOptions[int](), f"step {fail_at}")
    except TerminalError:
        for step in reversed(done):  # the saga's compensations
            await ctx.object_call(add, key=step[1], arg=-step[2])
        raise TerminalError(
            f"failed at step {fail_at}, {len(done)} adds compensated", FAIL_STATUS
        ) from None
    raise AssertionError("unreachable: the failing step always fails")


task = perdure.VirtualObject("SoakTask")


@task.handler(name="run")
async def run_task(ctx: ObjectContext, body: dict[str, Any]) -> list[Any]:
    return await _interpret(ctx, body["steps"], [])


_SETS = {
    "bidi": [program, counter, resolver],
    "http1": [task, worker],
}
_CHOSEN = os.environ.get("SOAK_SERVICES", "all")
app = perdure.app(services=_SETS.get(_CHOSEN, [program, counter, resolver, task, worker]))
