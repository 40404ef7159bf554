"""Every way of declaring a handler is checked, and so is code nested in a handler that
does not run inside ctx.run."""

from __future__ import annotations

import functools
import time
from typing import Any

from shared_definitions import imported_service

import perdure
import perdure as restate
from perdure import typed
from perdure.typed import handler, main

stamp = time.time  # a module-level alias is followed

greeter = perdure.Service("Greeter")
same_greeter = greeter


@same_greeter.handler()
async def through_alias(ctx: perdure.Context) -> float:
    return stamp()  # expect: PD101


@imported_service.handler()
async def annotated_context(ctx: perdure.Context) -> float:
    return time.time()  # expect: PD101


signup = restate.Workflow("SignUp")


@signup.main()
async def run(ctx: restate.WorkflowContext) -> float:
    return time.time()  # expect: PD101


@signup.handler()
async def peek(ctx: restate.WorkflowSharedContext) -> float:
    return time.monotonic()  # expect: PD101


class Typed(perdure.TypedService):
    @handler()
    async def greet(ctx: perdure.Context) -> float:
        return time.time()  # expect: PD101

    @typed.handler(name="other")
    async def other(ctx: perdure.Context) -> float:
        return time.time()  # expect: PD101

    @perdure.typed.handler()
    async def third(ctx: perdure.Context) -> float:
        return time.time()  # expect: PD101


class Flow(restate.TypedWorkflow):
    @main()
    async def run(ctx: restate.WorkflowContext) -> float:
        return time.time()  # expect: PD101


def make_service() -> perdure.Service:
    inner = perdure.Service("Inner")

    @inner.handler()
    async def nested(ctx: perdure.Context) -> float:
        return time.time()  # expect: PD101

    return inner


nesting = perdure.Service("Nesting")


@nesting.handler()
async def nested_code(ctx: perdure.Context, items: list[str]) -> list[Any]:
    def helper() -> float:  # called here, not given to ctx.run: it runs on every replay
        return time.time()  # expect: PD101

    by_time = sorted(items, key=lambda item: time.time())  # expect: PD101
    first = await ctx.run_typed("first", lambda: time.time())
    # The action runs once; its extra arguments are evaluated by the handler.
    options = perdure.RunOptions()
    second = await ctx.run_typed("second", max, options, 1.0, time.time())  # expect: PD101
    third = await ctx.run("third", functools.partial(max, 1.0, time.time()))  # expect: PD101
    return [helper(), by_time, first, second, third]


@nesting.handler()
async def wrong_context(ctx: perdure.Context, other: Any) -> float:
    # Only the handler's own context journals: `other.run` is an ordinary call.
    return await other.run("x", lambda: time.time())  # expect: PD101
