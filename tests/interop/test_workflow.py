"""The sign-up workflow: steps, a durable promise, shared handlers, attach."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.polling import eventually

from .harness.clients import error_body, expect_status, json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def _start_and_read_secret(env: Env) -> str:
    sent = await env.ingress.send(f"/SignUp/{env.key}/run", f"{env.key}@example.com")
    assert sent["status"] == "Accepted", sent

    async def waiting_for_click() -> bool:
        return await _stage(env) == "waiting-for-click"

    # The shared handler answers while `run` is blocked on the promise.
    await eventually(waiting_for_click, what="the workflow to wait for the click")
    mails = env.effects.lines(f"{env.key}.email")
    assert len(mails) == 1, f"the email step must run exactly once, got {mails}"
    assert env.effects.lines(f"{env.key}.create-user") == [f"{env.key}@example.com"]
    return mails[0]


async def _stage(env: Env) -> str | None:
    stage: str | None = json_result(await env.ingress.call(f"/SignUp/{env.key}/get_stage"))
    return stage


async def test_sign_up_completes_when_the_mailed_link_is_clicked(env: Env) -> None:
    secret = await _start_and_read_secret(env)
    attach = asyncio.create_task(env.ingress.attach_workflow("SignUp", env.key))

    expect_status(await env.ingress.call(f"/SignUp/{env.key}/approve_email", secret), 200)

    assert json_result(await attach) is True
    assert await _stage(env) == "verified"
    # A second submission of the same key is the same, already finished, workflow.
    again = await env.ingress.send(f"/SignUp/{env.key}/run", "other@example.com")
    assert again["status"] == "PreviouslyAccepted"
    assert env.effects.count(f"{env.key}.create-user") == 1


async def test_sign_up_with_a_wrong_secret_fails_terminally(env: Env) -> None:
    secret = await _start_and_read_secret(env)
    expect_status(await env.ingress.call(f"/SignUp/{env.key}/approve_email", secret + "x"), 200)

    resp = await env.ingress.attach_workflow("SignUp", env.key)
    assert resp.status_code == 403, resp.text
    assert error_body(resp)["message"] == "the clicked link carries a wrong secret"
    assert await _stage(env) == "wrong-secret"


async def test_rejected_email_link_fails_the_workflow_for_the_attacher(env: Env) -> None:
    await _start_and_read_secret(env)
    attach = asyncio.create_task(env.ingress.attach_workflow("SignUp", env.key))

    expect_status(await env.ingress.call(f"/SignUp/{env.key}/reject_email", "not me"), 200)

    resp = await attach
    assert resp.status_code == 410, resp.text
    assert error_body(resp)["message"] == "not me"
    assert await _stage(env) == "rejected"
