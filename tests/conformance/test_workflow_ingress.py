"""Workflow API, ingress pass-through, request signing (Restate sdk-tests `WorkflowAPI`,
`Ingress`, `ProxyRequestSigning`)."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.support.polling import eventually

from .client import Env, expect, json_of, new_key

pytestmark = pytest.mark.conformance


async def test_workflow_set_and_resolve(env: Env) -> None:
    key = new_key()
    workflow = f"BlockAndWaitWorkflow/{key}"
    sent = await env.send(f"{workflow}/run", "Francesco")
    assert sent["status"] == "Accepted"

    async def state_set() -> bool:
        return bool(await env.ok(f"{workflow}/getState", idempotent=False))

    await eventually(state_set, what="the workflow to set its state")
    await env.ok(f"{workflow}/unblock", "Till")

    assert json_of(await env.workflow("BlockAndWaitWorkflow", key, "attach")) == "Till"
    assert json_of(await env.workflow("BlockAndWaitWorkflow", key, "output")) == "Till"
    # Run is once per key: a resubmission is the same invocation, with the same output.
    again = await env.send(f"{workflow}/run", "Francesco")
    assert again == {**again, "status": "PreviouslyAccepted"}
    assert again["invocationId"] == sent["invocationId"]
    assert json_of(await env.workflow("BlockAndWaitWorkflow", key, "output")) == "Till"


async def test_headers_pass_through(env: Env) -> None:
    resp = await env.call(
        "TestUtilsService/echoHeaders",
        idempotency_key=new_key(),
        headers={"x-my-custom-header": "x-my-custom-value"},
    )
    assert json_of(resp)["x-my-custom-header"] == "x-my-custom-value"


async def test_raw_handler(env: Env) -> None:
    payload = os.urandom(100)
    resp = await env.ingress.post(
        "/TestUtilsService/rawEcho",
        content=payload,
        headers={"content-type": "application/octet-stream", "idempotency-key": new_key()},
    )
    assert expect(resp, 200).content == payload
    assert resp.headers["content-type"] == "application/octet-stream"


async def test_request_signing(signing_env: Env) -> None:
    env, key = signing_env, new_key()
    assert await env.ok(f"Counter/{key}/add", 1) == {"oldValue": 0, "newValue": 1}
    assert await env.ok(f"Counter/{key}/get") == 1
    # Those calls reached handlers that reject unsigned requests: show that they do, so the
    # success above means the server signed.
    async with httpx.AsyncClient(base_url=env.stack.services.signed_uri) as direct:
        unsigned = await direct.get(
            "/discover", headers={"accept": "application/vnd.restate.endpointmanifest.v3+json"}
        )
    assert unsigned.status_code == 401, unsigned.text
