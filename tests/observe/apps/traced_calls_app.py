"""Served by `perdure dev` in tests/observe/test_traces.py: a call and a send between
services (their spans must link), and a handler that waits until it is killed."""

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


app = perdure.app(services=[front, back])
