"""State-centred contract services: Counter, ListObject, MapObject, AwakeableHolder, and the
BlockAndWaitWorkflow (names and shapes follow Restate's e2e `sdk-tests` contracts)."""

from __future__ import annotations

from typing import TypedDict

from restate import (
    ObjectContext,
    ObjectSharedContext,
    TerminalError,
    VirtualObject,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

counter = VirtualObject("Counter")
_COUNT = "counter"


class CounterUpdateResponse(TypedDict):
    oldValue: int
    newValue: int


@counter.handler()
async def reset(ctx: ObjectContext) -> None:
    ctx.clear(_COUNT)


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get(_COUNT, type_hint=int) or 0


@counter.handler()
async def add(ctx: ObjectContext, value: int) -> CounterUpdateResponse:
    old = await ctx.get(_COUNT, type_hint=int) or 0
    ctx.set(_COUNT, old + value)
    return CounterUpdateResponse(oldValue=old, newValue=old + value)


@counter.handler(name="addThenFail")
async def add_then_fail(ctx: ObjectContext, value: int) -> None:
    old = await ctx.get(_COUNT, type_hint=int) or 0
    ctx.set(_COUNT, old + value)
    # The contract: the message carries the key, and the state set before the failure persists.
    raise TerminalError(ctx.key())


list_object = VirtualObject("ListObject")


@list_object.handler(name="append")
async def list_append(ctx: ObjectContext, value: str) -> None:
    items = await ctx.get("list", type_hint=list[str]) or []
    ctx.set("list", [*items, value])


@list_object.handler(name="get")
async def list_get(ctx: ObjectContext) -> list[str]:
    return await ctx.get("list", type_hint=list[str]) or []


@list_object.handler(name="clear")
async def list_clear(ctx: ObjectContext) -> list[str]:
    items = await ctx.get("list", type_hint=list[str]) or []
    ctx.clear("list")
    return items


map_object = VirtualObject("MapObject")


class Entry(TypedDict):
    key: str
    value: str


@map_object.handler(name="set")
async def map_set(ctx: ObjectContext, entry: Entry) -> None:
    # One state key per entry (the contract asks for it: clearAll lists the state keys).
    ctx.set(entry["key"], entry["value"])


@map_object.handler(name="get")
async def map_get(ctx: ObjectContext, key: str) -> str:
    return await ctx.get(key, type_hint=str) or ""


@map_object.handler(name="clearAll")
async def map_clear_all(ctx: ObjectContext) -> list[Entry]:
    entries: list[Entry] = []
    for key in await ctx.state_keys():
        entries.append(Entry(key=key, value=await ctx.get(key, type_hint=str) or ""))
        ctx.clear(key)
    return entries


awakeable_holder = VirtualObject("AwakeableHolder")


@awakeable_holder.handler()
async def hold(ctx: ObjectContext, awakeable_id: str) -> None:
    ctx.set("id", awakeable_id)


@awakeable_holder.handler(name="hasAwakeable")
async def has_awakeable(ctx: ObjectContext) -> bool:
    return await ctx.get("id", type_hint=str) is not None


@awakeable_holder.handler()
async def unlock(ctx: ObjectContext, payload: str) -> None:
    awakeable_id = await ctx.get("id", type_hint=str)
    if awakeable_id is None:
        raise TerminalError("No awakeable is registered")
    ctx.resolve_awakeable(awakeable_id, payload)


block_and_wait = Workflow("BlockAndWaitWorkflow")
_PROMISE = "durable-promise"


@block_and_wait.main()
async def run(ctx: WorkflowContext, value: str) -> str:
    ctx.set("my-state", value)
    output = await ctx.promise(_PROMISE, type_hint=str).value()
    # A completed promise must also be visible to peek, in the same run.
    if await ctx.promise(_PROMISE, type_hint=str).peek() is None:
        raise TerminalError("Durable promise should be completed")
    return output


@block_and_wait.handler()
async def unblock(ctx: WorkflowSharedContext, output: str) -> None:
    await ctx.promise(_PROMISE, type_hint=str).resolve(output)


@block_and_wait.handler(name="getState")
async def get_state(ctx: WorkflowSharedContext) -> str | None:
    return await ctx.get("my-state", type_hint=str)


SERVICES = [counter, list_object, map_object, awakeable_holder, block_and_wait]
