"""Server behaviours from Restate's e2e `e2e-tests` (IngressTest, AwakeableIngressEndpointTest,
JournalRetentionTest, PauseResumeTest), driven with our own services (server_features.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.polling import eventually

from .client import Env, expect, failure_of, json_of, new_key, proxy_request

pytestmark = pytest.mark.conformance


async def test_idempotent_call_reexecutes_after_retention(env: Env) -> None:
    counter, idempotency_key = f"RetentionCounter/{new_key()}", new_key()
    for _ in range(2):  # the same key: the stored result, not a second add
        resp = await env.call(f"{counter}/add", 2, idempotency_key=idempotency_key)
        assert json_of(resp) == {"oldValue": 0, "newValue": 2}

    # Once the retention (2 s) ran out and the cleaner passed, the same key executes again.
    async def reexecuted() -> bool:
        resp = await env.call(f"{counter}/add", 2, idempotency_key=idempotency_key)
        result = json_of(resp)
        assert result in ({"oldValue": 0, "newValue": 2}, {"oldValue": 2, "newValue": 4})
        return result == {"oldValue": 2, "newValue": 4}

    await eventually(reexecuted, what="re-execution after the retention", within=30, interval=0.5)
    assert await env.ok(f"{counter}/get") == 4


async def test_idempotent_call_to_service(env: Env) -> None:
    key, idempotency_key = new_key(), new_key()
    request = proxy_request("Counter", key, "add", 2)
    first = json_of(await env.call("Proxy/oneWayCall", request, idempotency_key=idempotency_key))
    second = json_of(await env.call("Proxy/oneWayCall", request, idempotency_key=idempotency_key))
    assert first == second  # the stored result: the proxy did not run (nor send) again

    async def added() -> bool:
        return await env.ok(f"Counter/{key}/get", idempotent=False) == 2

    await eventually(added, what="the proxied send to reach the counter")
    assert await env.ok(f"Counter/{key}/add", 2) == {"oldValue": 2, "newValue": 4}


async def test_idempotent_send(env: Env) -> None:
    key, idempotency_key = new_key(), new_key()
    first = await env.send(f"Counter/{key}/add", 2, idempotency_key=idempotency_key)
    second = await env.send(f"Counter/{key}/add", 2, idempotency_key=idempotency_key)
    assert first["status"] == "Accepted"
    assert second["status"] == "PreviouslyAccepted"
    assert second["invocationId"] == first["invocationId"]

    async def added() -> bool:
        return await env.ok(f"Counter/{key}/get", idempotent=False) == 2

    await eventually(added, what="the send to run")
    assert await env.ok(f"Counter/{key}/add", 2) == {"oldValue": 2, "newValue": 4}


async def registered_awakeable(env: Env, obj: str) -> str:
    async def awakeable_id() -> str | None:
        return await env.ok(f"{obj}/getAwakeable", idempotent=False) or None

    return await eventually(awakeable_id, what="the awakeable to be registered")


async def test_idempotent_send_then_attach_and_output(env: Env) -> None:
    key, idempotency_key = new_key(), new_key()
    obj = f"IngressAwakeable/{key}"
    sent = await env.send(f"{obj}/run", idempotency_key=idempotency_key)
    assert sent["status"] == "Accepted"
    attach = asyncio.create_task(
        env.idempotent_output("IngressAwakeable", key, "run", idempotency_key, attach=True)
    )
    try:
        not_ready = await env.idempotent_output(
            "IngressAwakeable", key, "run", idempotency_key, attach=False
        )
        assert not_ready.status_code == 470, not_ready.text
        assert not attach.done()

        awakeable_id = await registered_awakeable(env, obj)
        resp = await env.ingress.post(
            f"/restate/awakeables/{awakeable_id}/resolve", json="response"
        )
        expect(resp, 202)
        async with asyncio.timeout(30):
            assert json_of(await attach) == "response"
    finally:
        attach.cancel()
    output = await env.idempotent_output(
        "IngressAwakeable", key, "run", idempotency_key, attach=False
    )
    assert json_of(output) == "response"


# The ingress may close the connection after refusing a request whose body it did not read; a
# pooled connection reused at that moment fails with "Server disconnected". Not under test here.
_NO_REUSE = {"connection": "close"}


async def test_private_service(env: Env) -> None:
    resp = await env.call("PrivateGreeter/greet", "Francesco", headers=_NO_REUSE)
    assert resp.status_code == 400, resp.text
    # Services may still call it.
    raw = await env.ok("Proxy/call", proxy_request("PrivateGreeter", None, "greet", "Francesco"))
    assert bytes(raw) == b'"Hello Francesco"'

    expect(await env.admin.patch("/services/PrivateGreeter", json={"public": True}), 200)

    async def public() -> bool:
        resp = await env.call("PrivateGreeter/greet", "Francesco", headers=_NO_REUSE)
        return expect(resp, 200, 400).status_code == 200 and resp.json() == "Hello Francesco"

    await eventually(public, what="the service to become public")


@pytest.mark.parametrize("outcome", ["resolve", "reject"])
async def test_awakeable_through_ingress(env: Env, outcome: str) -> None:
    obj = f"IngressAwakeable/{new_key()}"
    running = asyncio.create_task(env.call(f"{obj}/run", idempotency_key=new_key()))
    try:
        awakeable_id = await registered_awakeable(env, obj)
        if outcome == "resolve":
            resp = await env.ingress.post(
                f"/restate/awakeables/{awakeable_id}/resolve", json="solved!"
            )
        else:
            resp = await env.ingress.post(
                f"/restate/awakeables/{awakeable_id}/reject",
                content=b"my bad!",
                headers={"content-type": "text/plain"},
            )
        expect(resp, 202)
        async with asyncio.timeout(30):
            result = await running
    finally:
        running.cancel()
    if outcome == "resolve":
        assert json_of(result) == "solved!"
    else:
        assert "my bad!" in str(failure_of(result)["message"])


@pytest.mark.needs_sql_query
async def test_journal_retention(env: Env) -> None:
    sent = await env.send("JournalRetained/greet", "Francesco", idempotency_key=new_key())
    invocation_id = sent["invocationId"]

    async def completed() -> bool:
        return await env.invocation_status(invocation_id) == "completed"

    await eventually(completed, what="the invocation to complete")
    rows = await env.query(
        f"SELECT index, entry_type FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
    )
    assert [(r["index"], r["entry_type"]) for r in rows] == [
        (0, "Command: Input"),
        (1, "Command: Sleep"),
        (2, "Notification: Sleep"),
        (3, "Command: Output"),
    ]


@pytest.mark.needs_sql_query
async def test_pause_and_resume(pausing_env: Env) -> None:
    env, token = pausing_env, new_key()
    sent = await env.send("FailOnDemand/echo", token, idempotency_key=new_key())
    invocation_id = sent["invocationId"]

    async def paused() -> bool:
        return await env.invocation_status(invocation_id) == "paused"

    await eventually(paused, what="the invocation to pause after its retries")
    await env.ok("FailOnDemand/release", token)
    # Paused means no further attempt on its own, even now that it would succeed.
    assert (await env.attach_output(invocation_id)).status_code == 470

    resumed = await env.admin.patch(
        f"/invocations/{invocation_id}/resume", params={"deployment": "keep"}
    )
    expect(resumed, 200, 202)
    async with asyncio.timeout(30):
        assert json_of(await env.attach(invocation_id)) == token
    assert await env.invocation_status(invocation_id) == "completed"
