"""Combinators over awakeables, sleeps and runs (Restate sdk-tests `Combinators`, without the
signal variants, which need protocol v7)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.polling import eventually

from .client import Env, failure_of, json_of, new_key

pytestmark = pytest.mark.conformance


def interpret(*commands: dict[str, object]) -> dict[str, object]:
    return {"commands": list(commands)}


async def test_awakeable_or_timeout_using_await_any(env: Env) -> None:
    race = {
        "type": "awaitAny",
        "commands": [
            {"type": "createAwakeable", "awakeableKey": "awk1"},
            {"type": "sleep", "timeoutMillis": 100},
        ],
    }
    result = await env.ok(
        f"VirtualObjectCommandInterpreter/{new_key()}/interpretCommands", interpret(race)
    )
    assert result == "sleep"


async def test_awakeable_or_timeout_using_awakeable_timeout_command(env: Env) -> None:
    command = {"type": "awaitAwakeableOrTimeout", "awakeableKey": "awk", "timeoutMillis": 100}
    resp = await env.call(
        f"VirtualObjectCommandInterpreter/{new_key()}/interpretCommands",
        interpret(command),
        idempotency_key=new_key(),
    )
    assert "await-timeout" in str(failure_of(resp)["message"])


async def test_first_successful_completed_awakeable(env: Env) -> None:
    obj = f"VirtualObjectCommandInterpreter/{new_key()}"
    candidates = []
    for index in range(3):
        candidates.append({"type": "createAwakeable", "awakeableKey": f"awk{index}"})
        candidates.append({"type": "runThrowTerminalException", "reason": f"run{index}"})
    running = asyncio.create_task(
        env.call(
            f"{obj}/interpretCommands",
            interpret({"type": "awaitAnySuccessful", "commands": candidates}),
            idempotency_key=new_key(),
        )
    )
    try:

        async def registered() -> bool:
            return bool(await env.ok(f"{obj}/hasAwakeable", "awk2", idempotent=False))

        await eventually(registered, what="awakeable awk2 to be created")
        assert await env.ok(f"{obj}/hasAwakeable", "awk0") is True
        assert await env.ok(f"{obj}/hasAwakeable", "awk1") is True
        # The failed runs are skipped; a rejected awakeable completes nothing either ...
        await env.ok(f"{obj}/rejectAwakeable", {"awakeableKey": "awk2", "reason": "fail"})
        # ... the first success wins.
        await env.ok(f"{obj}/resolveAwakeable", {"awakeableKey": "awk1", "value": "awk1-result"})
        async with asyncio.timeout(30):
            assert json_of(await running) == "awk1-result"
    finally:
        running.cancel()
