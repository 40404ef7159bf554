"""Services the client tests call, served with `perdure serve client_app.py`.

Most are class-based (perdure.sdk.typed), so the tests' proxies are typed; `Echo` is
restate-style, for `client.call(echo_point, ...)` and the untyped proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

import perdure
from perdure.sdk.context import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from perdure.sdk.typed import TypedObject, TypedService, TypedWorkflow, handler, main


@dataclass
class Failure:
    message: str
    code: int
    metadata: dict[str, str]


@dataclass
class Point:
    x: int
    y: int


class Greeter(TypedService, name="ClientGreeter"):
    @handler()
    async def greet(ctx: Context, name: str) -> str:
        return f"Hello {name}"

    @handler()
    async def header(ctx: Context, name: str) -> str | None:
        """The value of the invocation header `name` (what the caller sent)."""
        return ctx.request().headers.get(name)

    @handler()
    async def fail(ctx: Context, failure: Failure) -> None:
        raise perdure.TerminalError(
            failure.message, status_code=failure.code, metadata=failure.metadata
        )

    @handler()
    async def nothing(ctx: Context) -> None:
        return None

    @handler()
    async def greet_via_call(ctx: Context, name: str) -> str:
        """Calls `greet` durably, naming it by the class attribute (a HandlerRef)."""
        return "via call: " + await ctx.service_call(Greeter.greet, name)


class Counter(TypedObject, name="ClientCounter"):
    @handler()
    async def add(ctx: ObjectContext, delta: int) -> int:
        value = (await ctx.get("count", type_hint=int) or 0) + delta
        ctx.set("count", value)
        return value

    @handler(kind="shared")
    async def get(ctx: ObjectSharedContext) -> int:
        return await ctx.get("count", type_hint=int) or 0


class Waiter(TypedObject, name="ClientWaiter"):
    @handler()
    async def wait(ctx: ObjectContext) -> str:
        """Wait for an awakeable the test completes through the client."""
        awakeable_id, value = ctx.awakeable(type_hint=str)
        ctx.set("awakeable", awakeable_id)
        return await value

    @handler(kind="shared")
    async def awakeable_id(ctx: ObjectSharedContext) -> str | None:
        return await ctx.get("awakeable", type_hint=str)


class SignUp(TypedWorkflow, name="ClientSignUp"):
    @main()
    async def run(ctx: WorkflowContext, email: str) -> str:
        ctx.set("stage", "waiting")
        secret = await ctx.promise("approval", type_hint=str).value()
        ctx.set("stage", "done")
        return f"{email} approved with {secret}"

    @handler()
    async def approve(ctx: WorkflowSharedContext, secret: str) -> None:
        await ctx.promise("approval", type_hint=str).resolve(secret)

    @handler()
    async def stage(ctx: WorkflowSharedContext) -> str | None:
        return await ctx.get("stage", type_hint=str)


echo = perdure.Service("ClientEcho")


@echo.handler()
async def swap(ctx: Context, point: Point) -> Point:
    return Point(x=point.y, y=point.x)


app = perdure.app(
    services=[Greeter.definition, Counter.definition, Waiter.definition, SignUp.definition, echo]
)
