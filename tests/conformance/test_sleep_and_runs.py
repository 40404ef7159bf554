"""Sleeps and `ctx.run` (Restate sdk-tests `Sleep`, `RunFlush`, `RunRetry`)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from .client import Env, new_key
from .stacks import CONFIGS, INACTIVITY_TIMEOUT

pytestmark = pytest.mark.conformance


def interpret(*commands: dict[str, object]) -> dict[str, object]:
    return {"commands": list(commands)}


async def test_sleep(env: Env) -> None:
    sleep_ms = 10
    started = time.monotonic()
    result = await env.ok(
        f"VirtualObjectCommandInterpreter/{new_key()}/interpretCommands",
        interpret({"type": "awaitOne", "command": {"type": "sleep", "timeoutMillis": sleep_ms}}),
    )
    assert result == "sleep"
    assert time.monotonic() - started >= sleep_ms / 1000


# Restate's e2e runs 50 invocations of 20 sleeps; fewer keep CI quick and still overlap timers.
INVOCATIONS, SLEEPS = 10, 10


async def test_many_sleeps(env: Env) -> None:
    async def one() -> object:
        sleeps = [{"type": "sleep", "timeoutMillis": random.randint(10, 50)} for _ in range(SLEEPS)]
        return await env.ok(
            f"VirtualObjectCommandInterpreter/{new_key()}/interpretCommands",
            interpret({"type": "awaitAllCompleted", "commands": sleeps}),
        )

    async with asyncio.timeout(60):
        results = await asyncio.gather(*(one() for _ in range(INVOCATIONS)))
    assert results == ["|".join(["ok:sleep"] * SLEEPS)] * INVOCATIONS


async def test_run_flush(env: Env) -> None:
    executed = await env.ok("TestUtilsService/countExecutedSideEffects", 3)
    if CONFIGS[env.stack.config].get(INACTIVITY_TIMEOUT) == "0s":
        # Every run waits for its acknowledgement, and an always-suspending server suspends the
        # invocation there: the attempt that finishes only replays the three runs.
        assert executed == 0
    else:
        # One attempt runs all three, each exactly once.
        assert executed == 3


async def test_run_retry_with_success(env: Env) -> None:
    attempts = 3
    result = await env.ok(f"Failing/{new_key()}/sideEffectSucceedsAfterGivenAttempts", attempts)
    assert result == attempts


async def test_run_executed_only_once(env: Env) -> None:
    # One attempt allowed: the failure is final at once, the closure ran exactly once.
    assert await env.ok(f"Failing/{new_key()}/sideEffectFailsAfterGivenAttempts", 1) == 1


async def test_run_retry_with_exhausted_attempts(env: Env) -> None:
    attempts = 3
    result = await env.ok(f"Failing/{new_key()}/sideEffectFailsAfterGivenAttempts", attempts)
    assert result == attempts
