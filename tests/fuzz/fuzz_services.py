"""Services for the HTTP fuzzer (perdure's SDK, hosted by `perdure dev`): every handler answers
at once, so any request the fuzzer sends is answered quickly or the server is at fault."""

from __future__ import annotations

from typing import Any

import perdure
from perdure import ObjectContext, ObjectSharedContext, WorkflowContext, WorkflowSharedContext
from perdure.serde import BytesSerde

echo = perdure.Service("Echo")


@echo.handler()
async def say(ctx: perdure.Context, value: Any) -> Any:
    return value


@echo.handler()
async def fail(ctx: perdure.Context, message: Any) -> None:
    raise perdure.TerminalError(str(message)[:200], 418)


@echo.handler(input_serde=BytesSerde(), output_serde=BytesSerde())
async def raw(ctx: perdure.Context, data: bytes) -> bytes:
    return data


@echo.handler()
async def typed(ctx: perdure.Context, n: int) -> int:
    # The schema says int, but nothing checks it before the handler: a wrong input must
    # end the call (not be retried forever, which any handler bug would be).
    if not isinstance(n, int):
        raise perdure.TerminalError(f"expected an integer, got {type(n).__name__}", 400)
    return n + 1


box = perdure.VirtualObject("Box")


@box.handler()
async def put(ctx: ObjectContext, value: Any) -> Any:
    previous = await ctx.get("value")
    ctx.set("value", value)
    return previous


@box.handler(kind="shared")
async def peek(ctx: ObjectSharedContext) -> Any:
    return await ctx.get("value")


flow = perdure.Workflow("Flow")


@flow.main()
async def run(ctx: WorkflowContext, value: Any) -> Any:
    ctx.set("seen", value)
    return value


@flow.handler()
async def seen(ctx: WorkflowSharedContext) -> Any:
    return await ctx.get("seen")


app = perdure.app(services=[echo, box, flow])
