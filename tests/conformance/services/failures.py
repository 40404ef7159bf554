"""Failing and NonDeterministic (names and shapes follow Restate's e2e `sdk-tests` contracts).

Attempt counters live in this process, keyed by the object key, so concurrent tests (unique keys)
never share a count. The conformance harness runs one hypercorn worker: one process, one count.
"""

from __future__ import annotations

from collections import Counter as Tally
from datetime import timedelta
from typing import TypedDict

from basics import add as counter_add, get as counter_get, reset as counter_reset
from restate import ObjectContext, RunOptions, TerminalError, VirtualObject

failing = VirtualObject("Failing")

# Executions per (purpose, key); in-process on purpose (see the module docstring).
_attempts: Tally[tuple[str, str]] = Tally()
SUCCESS_ATTEMPT = 4


class FailureToPropagate(TypedDict, total=False):
    errorMessage: str
    metadata: dict[str, str] | None


@failing.handler(name="terminallyFailingCall")
async def terminally_failing_call(ctx: ObjectContext, failure: FailureToPropagate) -> None:
    raise TerminalError(failure["errorMessage"], metadata=failure.get("metadata"))


@failing.handler(name="callTerminallyFailingCall")
async def call_terminally_failing_call(ctx: ObjectContext, failure: FailureToPropagate) -> str:
    # Another key: the same key would deadlock on the exclusive lock this invocation holds.
    await ctx.object_call(terminally_failing_call, key=f"{ctx.key()}-callee", arg=failure)
    raise TerminalError("the nested call should have failed")


@failing.handler(name="failingCallWithEventualSuccess")
async def failing_call_with_eventual_success(ctx: ObjectContext) -> int:
    _attempts["eventual", ctx.key()] += 1
    attempt = _attempts["eventual", ctx.key()]
    if attempt >= SUCCESS_ATTEMPT:
        return attempt
    raise ValueError(f"failed at attempt {attempt}")  # retryable: the server retries the invocation


@failing.handler(name="terminallyFailingSideEffect")
async def terminally_failing_side_effect(ctx: ObjectContext, failure: FailureToPropagate) -> None:
    def effect() -> None:
        raise TerminalError(failure["errorMessage"], metadata=failure.get("metadata"))

    await ctx.run_typed("sideEffect", effect)
    raise TerminalError("the run should have failed")


def _fast_retries(max_attempts: int) -> RunOptions[int]:
    return RunOptions(
        max_attempts=max_attempts,
        initial_retry_interval=timedelta(milliseconds=1),
        retry_interval_factor=1.0,
    )


@failing.handler(name="sideEffectSucceedsAfterGivenAttempts")
async def side_effect_succeeds_after_given_attempts(ctx: ObjectContext, minimum: int) -> int:
    key = ctx.key()

    def effect() -> int:
        _attempts["succeeds", key] += 1
        if _attempts["succeeds", key] >= minimum:
            return _attempts["succeeds", key]
        raise ValueError(f"failed at attempt {_attempts['succeeds', key]}")

    return await ctx.run_typed("sideEffect", effect, _fast_retries(minimum + 1))


@failing.handler(name="sideEffectFailsAfterGivenAttempts")
async def side_effect_fails_after_given_attempts(ctx: ObjectContext, max_attempts: int) -> int:
    key = ctx.key()

    def effect() -> int:
        _attempts["fails", key] += 1
        raise ValueError(f"failed at attempt {_attempts['fails', key]}")

    try:
        await ctx.run_typed("sideEffect", effect, _fast_retries(max_attempts))
    except TerminalError:
        return _attempts["fails", key]
    raise TerminalError("the run did not fail")


non_deterministic = VirtualObject("NonDeterministic")

# Invocations per key: odd ones take the "left" branch, even ones (a replay) the other.
_invocations: Tally[str] = Tally()


def _left(ctx: ObjectContext) -> bool:
    _invocations[ctx.key()] += 1
    return _invocations[ctx.key()] % 2 == 1


def _increment_counter(ctx: ObjectContext) -> None:
    # Reached only past the non-deterministic step: the test checks that it never is.
    ctx.object_send(counter_add, key=ctx.key(), arg=1)


_PAUSE = timedelta(milliseconds=100)


@non_deterministic.handler(name="eitherSleepOrCall")
async def either_sleep_or_call(ctx: ObjectContext) -> None:
    if _left(ctx):
        await ctx.sleep(_PAUSE)
    else:
        await ctx.object_call(counter_get, key="abc", arg=None)
    await ctx.sleep(_PAUSE)
    _increment_counter(ctx)


@non_deterministic.handler(name="callDifferentMethod")
async def call_different_method(ctx: ObjectContext) -> None:
    if _left(ctx):
        await ctx.object_call(counter_get, key="abc", arg=None)
    else:
        await ctx.object_call(counter_reset, key="abc", arg=None)
    await ctx.sleep(_PAUSE)
    _increment_counter(ctx)


@non_deterministic.handler(name="backgroundInvokeWithDifferentTargets")
async def background_invoke_with_different_targets(ctx: ObjectContext) -> None:
    if _left(ctx):
        ctx.object_send(counter_get, key="abc", arg=None)
    else:
        ctx.object_send(counter_reset, key="abc", arg=None)
    await ctx.sleep(_PAUSE)
    _increment_counter(ctx)


@non_deterministic.handler(name="setDifferentKey")
async def set_different_key(ctx: ObjectContext) -> None:
    if _left(ctx):
        ctx.set("a", "my-state")
    else:
        ctx.set("b", "my-state")
    await ctx.sleep(_PAUSE)
    _increment_counter(ctx)


SERVICES = [failing, non_deterministic]
