"""Cancellation through the admin API while a handler is blocked: 409 and compensation."""

from __future__ import annotations

import pytest

from tests.support.polling import eventually

from .harness.clients import error_body, expect_status, json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def _wait_until_blocked(env: Env, invocation_id: str, mode: str) -> None:
    await eventually(
        lambda: env.effects.count(f"{env.key}.blocking") > 0, what="the handler to start blocking"
    )
    if mode == "call":
        await eventually(
            lambda: env.effects.count(f"{env.key}-child.blocked") > 0, what="the callee to block"
        )
    if mode in ("call", "sleep"):
        entry = "Command: Call" if mode == "call" else "Command: Sleep"

        async def journaled() -> bool:
            sql = f"SELECT entry_type FROM sys_journal WHERE id = '{invocation_id}'"
            return entry in [row.get("entry_type") for row in await env.admin.query(sql)]

        await eventually(journaled, what=f"the journal to hold the {entry}")


@pytest.mark.parametrize("mode", ["call", "sleep", "awakeable"])
async def test_cancel_while_blocked_runs_compensation(env: Env, mode: str) -> None:
    sent = await env.ingress.send(f"/Cancellable/{env.key}/block", mode)
    invocation_id = sent["invocationId"]
    await _wait_until_blocked(env, invocation_id, mode)

    # 202: the invocation is running or suspended, so a cancel signal is appended to it.
    expect_status(await env.admin.cancel(invocation_id), 202)

    resp = await env.ingress.attach(invocation_id)
    assert resp.status_code == 409, resp.text
    assert error_body(resp)["code"] == 409
    assert env.effects.lines(f"{env.key}.compensation") == ["409"]
    assert json_result(await env.ingress.call(f"/Cancellable/{env.key}/compensated")) == 409
    if mode == "call":
        # The SDK propagates the cancellation to the call it was blocked in.
        await eventually(
            lambda: env.effects.lines(f"{env.key}-child.cancelled") == ["409"],
            what="the cancellation to reach the callee",
        )
