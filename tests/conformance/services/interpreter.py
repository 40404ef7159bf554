"""VirtualObjectCommandInterpreter, the subset of its contract (Restate's e2e `sdk-tests`) that the
Sleep and Combinators scenarios use: awakeables, sleeps and runs combined with awaitOne, awaitAny,
awaitAnySuccessful, awaitAll*, awaitAwakeableOrTimeout. Signals need protocol v7: rejected."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from restate import (
    ObjectContext,
    ObjectSharedContext,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    TerminalError,
    VirtualObject,
    as_completed,
    gather,
    select,
    wait_completed,
)

interpreter = VirtualObject("VirtualObjectCommandInterpreter")


def _awakeable_state(awakeable_key: str) -> str:
    return f"awk-{awakeable_key}"


@interpreter.handler(name="getResults", kind="shared")
async def get_results(ctx: ObjectSharedContext) -> list[str]:
    return await ctx.get("results", type_hint=list[str]) or []


@interpreter.handler(name="hasAwakeable", kind="shared")
async def has_awakeable(ctx: ObjectSharedContext, awakeable_key: str) -> bool:
    return bool(await ctx.get(_awakeable_state(awakeable_key), type_hint=str))


async def _awakeable_id(ctx: ObjectSharedContext | ObjectContext, awakeable_key: str) -> str:
    awakeable_id = await ctx.get(_awakeable_state(awakeable_key), type_hint=str)
    if not awakeable_id:
        raise TerminalError(f"no awakeable registered under {awakeable_key!r}")
    return awakeable_id


@interpreter.handler(name="resolveAwakeable", kind="shared")
async def resolve_awakeable(ctx: ObjectSharedContext, req: dict[str, str]) -> None:
    ctx.resolve_awakeable(await _awakeable_id(ctx, req["awakeableKey"]), req["value"])


@interpreter.handler(name="rejectAwakeable", kind="shared")
async def reject_awakeable(ctx: ObjectSharedContext, req: dict[str, str]) -> None:
    ctx.reject_awakeable(await _awakeable_id(ctx, req["awakeableKey"]), req["reason"])


def _start(ctx: ObjectContext, cmd: dict[str, Any]) -> RestateDurableFuture[Any]:
    kind = cmd["type"]
    if kind == "createAwakeable":
        awakeable_id, awakeable = ctx.awakeable(type_hint=str)
        ctx.set(_awakeable_state(cmd["awakeableKey"]), awakeable_id)
        return awakeable
    if kind == "sleep":
        return ctx.sleep(timedelta(milliseconds=cmd["timeoutMillis"]))
    if kind == "runThrowTerminalException":
        reason = cmd["reason"]

        def fail() -> str:
            raise TerminalError(reason)

        return ctx.run_typed("run should fail command", fail)
    if kind == "runReturns":
        value = cmd["value"]

        async def returns() -> str:
            await asyncio.sleep(0)  # really asynchronous work inside the run
            return value

        return ctx.run_typed("runReturns", returns)
    raise TerminalError(f"unsupported awaitable command {kind!r} (signals need protocol v7)")


async def _value(future: RestateDurableFuture[Any]) -> str:
    if isinstance(future, RestateDurableSleepFuture):
        await future
        return "sleep"
    return str(await future)


async def _first_successful(futures: list[RestateDurableFuture[Any]]) -> str:
    last_error: TerminalError | None = None
    async for done in as_completed(*futures):
        try:
            return await _value(done)
        except TerminalError as error:
            last_error = error
    assert last_error is not None
    raise last_error


async def _all_completed(futures: list[RestateDurableFuture[Any]]) -> str:
    await gather(*futures)
    parts = []
    for future in futures:
        try:
            parts.append(f"ok:{await _value(future)}")
        except TerminalError as error:
            parts.append(f"err:{error.message}")
    return "|".join(parts)


async def _interpret(ctx: ObjectContext, cmd: dict[str, Any]) -> str:
    kind = cmd["type"]
    if kind == "awaitOne":
        return await _value(_start(ctx, cmd["command"]))
    if kind in ("awaitAny", "awaitFirstCompleted"):
        done, _ = await wait_completed(*[_start(ctx, c) for c in cmd["commands"]])
        return await _value(done[0])
    if kind in ("awaitAnySuccessful", "awaitFirstSucceededOrAllFailed"):
        return await _first_successful([_start(ctx, c) for c in cmd["commands"]])
    if kind == "awaitAllSucceededOrFirstFailed":
        futures = [_start(ctx, c) for c in cmd["commands"]]
        await gather(*futures)
        return "|".join([await _value(f) for f in futures])
    if kind == "awaitAllCompleted":
        return await _all_completed([_start(ctx, c) for c in cmd["commands"]])
    if kind == "awaitAwakeableOrTimeout":
        awakeable_id, awakeable = ctx.awakeable(type_hint=str)
        ctx.set(_awakeable_state(cmd["awakeableKey"]), awakeable_id)
        timeout = ctx.sleep(timedelta(milliseconds=cmd["timeoutMillis"]))
        winner, value = await select(awakeable=awakeable, timeout=timeout)
        if winner == "timeout":
            raise TerminalError("await-timeout")
        return str(value)
    if kind == "resolveAwakeable":
        ctx.resolve_awakeable(await _awakeable_id(ctx, cmd["awakeableKey"]), cmd["value"])
        return ""
    if kind == "rejectAwakeable":
        ctx.reject_awakeable(await _awakeable_id(ctx, cmd["awakeableKey"]), cmd["reason"])
        return ""
    raise TerminalError(f"unsupported command {kind!r}")


@interpreter.handler(name="interpretCommands")
async def interpret_commands(ctx: ObjectContext, req: dict[str, Any]) -> str:
    """Run the commands in order, append each result to the `results` state, return the last."""
    result = ""
    results = await ctx.get("results", type_hint=list[str]) or []
    for cmd in req["commands"]:
        result = await _interpret(ctx, cmd)
        results.append(result)
        ctx.set("results", results)
    return result


SERVICES = [interpreter]
