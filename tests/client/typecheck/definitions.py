"""Definitions the type-checking snippets use: class-based and restate-style."""

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
class Point:
    x: int
    y: int


class Greeter(TypedService):
    @handler()
    async def greet(ctx: Context, name: str) -> str:
        return f"Hello {name}"

    @handler()
    async def ping(ctx: Context) -> None:
        return None


class Counter(TypedObject):
    @handler()
    async def add(ctx: ObjectContext, delta: int) -> int:
        return delta

    @handler(kind="shared")
    async def get(ctx: ObjectSharedContext) -> int:
        return 0


class SignUp(TypedWorkflow):
    @main()
    async def run(ctx: WorkflowContext, email: str) -> bool:
        return True

    @handler()
    async def approve(ctx: WorkflowSharedContext, secret: str) -> None:
        await ctx.promise("approval", type_hint=str).resolve(secret)


echo = perdure.Service("Echo")


@echo.handler()
async def swap(ctx: Context, point: Point) -> Point:
    return Point(point.y, point.x)
