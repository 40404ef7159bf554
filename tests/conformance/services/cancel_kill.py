"""CancelTestRunner / CancelTestBlockingService and KillTestRunner / KillTestSingleton (names and
shapes follow Restate's e2e `sdk-tests` contracts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from basics import hold
from restate import ObjectContext, TerminalError, VirtualObject

BlockingOperation = Literal["CALL", "SLEEP", "AWAKEABLE"]

cancel_runner = VirtualObject("CancelTestRunner")


@cancel_runner.handler(name="startTest")
async def start_test(ctx: ObjectContext, operation: BlockingOperation) -> None:
    try:
        await ctx.object_call(block, key=ctx.key(), arg=operation)
    except TerminalError as error:
        if error.status_code != 409:  # 409 = cancelled: what the test waits for
            raise
        ctx.set("state", True)


@cancel_runner.handler(name="verifyTest")
async def verify_test(ctx: ObjectContext) -> bool:
    return await ctx.get("state", type_hint=bool) or False


blocking_service = VirtualObject("CancelTestBlockingService")


@blocking_service.handler()
async def block(ctx: ObjectContext, operation: BlockingOperation) -> None:
    # First a sync point the test can see (AwakeableHolder.hasAwakeable) and release (unlock) ...
    awakeable_id, awakeable = ctx.awakeable(type_hint=str)
    await ctx.object_call(hold, key=ctx.key(), arg=awakeable_id)
    await awakeable
    # ... then block forever on the operation under test, until cancelled.
    if operation == "CALL":
        # Same key, exclusive handler: deadlocks in this key's inbox.
        await ctx.object_call(block, key=ctx.key(), arg=operation)
    elif operation == "SLEEP":
        await ctx.sleep(timedelta(days=1024))
    elif operation == "AWAKEABLE":
        _, never = ctx.awakeable(type_hint=str)
        await never


@blocking_service.handler(name="isUnlocked")
async def is_unlocked(ctx: ObjectContext) -> None:
    return None


kill_runner = VirtualObject("KillTestRunner")


@kill_runner.handler(name="startCallTree")
async def start_call_tree(ctx: ObjectContext) -> None:
    await ctx.object_call(recursive_call, key=ctx.key(), arg=None)


kill_singleton = VirtualObject("KillTestSingleton")


@kill_singleton.handler(name="recursiveCall")
async def recursive_call(ctx: ObjectContext) -> None:
    awakeable_id, awakeable = ctx.awakeable(type_hint=str)
    ctx.object_send(hold, key=ctx.key(), arg=awakeable_id)
    await awakeable
    # Calls itself on the same key: the callee waits in the inbox behind its caller, forever.
    await ctx.object_call(recursive_call, key=ctx.key(), arg=None)


@kill_singleton.handler(name="isUnlocked")
async def singleton_is_unlocked(ctx: ObjectContext) -> None:
    return None


SERVICES = [cancel_runner, blocking_service, kill_runner, kill_singleton]
