"""ctx.run: exactly once across attempts, retries, max_attempts; journal mismatch on replay."""

from __future__ import annotations

import pytest

from tests.support.polling import ConditionTimeout, eventually

from .harness.clients import json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def test_run_executes_once_across_attempts(env: Env) -> None:
    # The handler fails (retryably) after its run; the retry replays the stored result.
    result = json_result(await env.ingress.call("/Runs/once_then_retry", env.key))
    assert result == 1
    assert env.effects.count(f"{env.key}.failure") == 1, "the retryable failure never happened"
    assert env.effects.count(f"{env.key}.effect") == 1


@pytest.mark.parametrize("max_attempts", [None, 5], ids=["invocation-retry", "run-options"])
async def test_failing_run_is_retried_until_it_succeeds(env: Env, max_attempts: int | None) -> None:
    request = {"name": env.key, "succeed_on": 3, "max_attempts": max_attempts}
    assert json_result(await env.ingress.call("/Runs/flaky", request)) == 3
    assert env.effects.count(f"{env.key}.try") == 3


async def test_run_with_exhausted_max_attempts_raises_terminal_error(env: Env) -> None:
    result = json_result(
        await env.ingress.call("/Runs/exhausted", {"name": env.key, "max_attempts": 3})
    )
    assert result["terminal"] is True, result
    assert "this step always fails" in result["message"]
    assert env.effects.count(f"{env.key}.try") == 3


async def test_changed_code_between_attempts_is_a_journal_mismatch(env: Env) -> None:
    sent = await env.ingress.send("/NonDeterministic/flip", env.key)
    invocation_id = sent["invocationId"]

    async def mismatch_recorded() -> bool:
        row = await env.admin.invocation(invocation_id)
        # The first failure is the deliberate RuntimeError (500); the replay then mismatches.
        # Both servers render the SDK's error code into `last_failure` as "[570 Journal
        # mismatch] …" (`last_failure_error_code` holds restate's RT code instead).
        return bool(row) and str(row.get("last_failure", "")).startswith("[570 Journal mismatch]")

    try:
        try:
            await eventually(mismatch_recorded, what="the replay to fail with journal mismatch")
        except ConditionTimeout:
            pytest.fail(f"no 570; invocation row: {await env.admin.invocation(invocation_id)}")
        assert env.effects.count(f"{env.key}.attempt") >= 2
    finally:
        # It would retry (and mismatch) forever; end it so it does not load the server.
        await env.admin.kill(invocation_id)
