"""Failures (Restate sdk-tests `UserErrors`, `NonDeterminismErrors`)."""

from __future__ import annotations

import pytest

from tests.support.polling import eventually

from .client import Env, failure_of, new_key

pytestmark = pytest.mark.conformance

METADATA = {"key1": "value1", "key2": "value2"}


async def expect_failure(env: Env, target: str, body: object) -> dict[str, object]:
    """Call through the ingress with an idempotency key; return the failure body."""
    resp = await env.call(target, body, idempotency_key=new_key())
    failure = failure_of(resp)
    # A TerminalError without a status code is a 500, the status of the ingress response too.
    assert resp.status_code == 500, resp.text
    return failure


async def test_terminally_failing_call(env: Env) -> None:
    failure = await expect_failure(
        env, f"Failing/{new_key()}/terminallyFailingCall", {"errorMessage": "my error"}
    )
    assert "my error" in str(failure["message"])


async def test_fail_several_times(env: Env) -> None:
    # The service keeps working after terminal failures.
    for _ in range(3):
        await test_terminally_failing_call(env)


async def test_internal_call_failure_propagation(env: Env) -> None:
    failure = await expect_failure(
        env, f"Failing/{new_key()}/callTerminallyFailingCall", {"errorMessage": "propagated error"}
    )
    assert "propagated error" in str(failure["message"])


async def test_side_effect_with_terminal_error(env: Env) -> None:
    failure = await expect_failure(
        env,
        f"Failing/{new_key()}/terminallyFailingSideEffect",
        {"errorMessage": "failed side effect"},
    )
    assert "failed side effect" in str(failure["message"])


@pytest.mark.parametrize(
    "handler",
    ["terminallyFailingCall", "callTerminallyFailingCall", "terminallyFailingSideEffect"],
)
async def test_terminal_error_metadata(env: Env, handler: str) -> None:
    message = f"{handler} with metadata"
    body = {"errorMessage": message, "metadata": METADATA}
    for _ in range(2):  # and again: the failure path stays healthy
        failure = await expect_failure(env, f"Failing/{new_key()}/{handler}", body)
        assert message in str(failure["message"])
        metadata = failure.get("metadata")
        assert isinstance(metadata, dict)
        assert metadata.items() >= METADATA.items()


async def test_set_state_then_fail_should_persist_state(env: Env) -> None:
    key = new_key()
    failure = await expect_failure(env, f"Counter/{key}/addThenFail", 1)
    assert key in str(failure["message"])
    assert await env.ok(f"Counter/{key}/get") == 1


async def test_invocation_with_eventual_success(env: Env) -> None:
    # Three retryable failures, then success at the fourth attempt.
    assert await env.ok(f"Failing/{new_key()}/failingCallWithEventualSuccess") == 4


@pytest.mark.parametrize(
    "handler",
    [
        "eitherSleepOrCall",
        "callDifferentMethod",
        "backgroundInvokeWithDifferentTargets",
        "setDifferentKey",
    ],
)
async def test_non_determinism(strict_env: Env, handler: str) -> None:
    env, key = strict_env, new_key()
    assert await env.ok(f"Counter/{key}/add", 1) == {"oldValue": 0, "newValue": 1}
    # The replay takes the other branch: journal mismatch; one attempt allowed, then killed.
    resp = await env.call(f"NonDeterministic/{key}/{handler}", idempotency_key=new_key())
    failure_of(resp)
    assert resp.status_code == 570, resp.text  # journal mismatch

    # The handler never got past the mismatch, so its final increment never happened.
    async def still_one() -> bool:
        return await env.ok(f"Counter/{key}/get", idempotent=False) == 1

    await eventually(still_one, what="the counter to read 1")
