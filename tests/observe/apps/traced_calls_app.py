"""Served by `perdure dev` in tests/observe/test_traces.py: a call and a send between
services (their spans must link), a handler that waits until it is killed, and one whose
first attempt fails."""

from __future__ import annotations

import perdure

front = perdure.Service("Front")
back = perdure.Service("Back")


@back.handler()
async def shout(ctx: perdure.Context, name: str) -> dict[str, str]:
    """What the callee sees: its traceparent (journaled) and its attempt's."""
    loud = await ctx.run_typed("upper", lambda: name.upper())
    request = ctx.request()
    return {
        "loud": loud,
        "input": request.headers.get("traceparent", ""),
        "attempt": request.attempt_headers.get("traceparent", ""),
    }


@back.handler()
async def note(ctx: perdure.Context, name: str) -> None:
    await ctx.run_typed("write note", lambda: None)


@front.handler()
async def greet(ctx: perdure.Context, name: str) -> dict[str, str]:
    ctx.service_send(note, name)
    return await ctx.service_call(shout, name)


@front.handler()
async def wait(ctx: perdure.Context) -> None:
    _, never = ctx.awakeable(type_hint=str)
    await never


_failures_left = {"count": 1}  # this process's: the first attempt fails, the retry succeeds


@back.handler()
async def once_broken(ctx: perdure.Context, name: str) -> str:
    if _failures_left["count"] > 0:
        _failures_left["count"] -= 1
        raise RuntimeError("broken once")
    return name


app = perdure.app(services=[front, back])
