"""Service-to-service calls and sends (Restate sdk-tests `ServiceToServiceCommunication`,
`CallOrdering`)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.polling import eventually

from .client import Env, expect, json_of, new_key, proxy_request

pytestmark = pytest.mark.conformance


async def counter_value(env: Env, key: str) -> int:
    value: int = await env.ok(f"Counter/{key}/get", idempotent=False)
    return value


async def test_regular_call(env: Env) -> None:
    request = proxy_request("TestUtilsService", None, "uppercaseEcho", "ping")
    raw = await env.ok("Proxy/call", request)
    # Proxy returns the callee's raw output bytes, as an array of numbers.
    assert json.loads(bytes(raw)) == "PING"


async def test_one_way_call(env: Env) -> None:
    key = new_key()
    await env.ok("Proxy/oneWayCall", proxy_request("Counter", key, "add", 1))

    async def added() -> bool:
        return await counter_value(env, key) == 1

    await eventually(added, what="the proxied send to reach the counter")


async def test_one_way_call_with_idempotency_key(env: Env) -> None:
    key, idempotency_key = new_key(), new_key()
    request = proxy_request("Counter", key, "add", 1, idempotencyKey=idempotency_key)
    first = await env.ok("Proxy/oneWayCall", request)
    # A second send with the same idempotency key is the same invocation, not a new one.
    second = await env.ok("Proxy/oneWayCall", request)
    assert first == second

    async def output() -> dict[str, int] | None:
        resp = await env.idempotent_output("Counter", key, "add", idempotency_key, attach=False)
        return json_of(resp) if expect(resp, 200, 470).status_code == 200 else None

    assert await eventually(output, what="the idempotent send's output") == {
        "oldValue": 0,
        "newValue": 1,
    }
    assert await counter_value(env, key) == 1


async def test_call_with_idempotency_key(env: Env) -> None:
    key, idempotency_key = new_key(), new_key()
    request = proxy_request("Counter", key, "add", 1, idempotencyKey=idempotency_key)
    for _ in range(2):  # the second call gets the first one's result, without a second add
        raw = await env.ok("Proxy/call", request)
        assert json.loads(bytes(raw)) == {"oldValue": 0, "newValue": 1}
    assert await counter_value(env, key) == 1
    resp = await env.idempotent_output("Counter", key, "add", idempotency_key, attach=False)
    assert json_of(resp) == {"oldValue": 0, "newValue": 1}


SENDS, DELAY_S = 10, 2.0


async def test_one_way_call_with_delay(env: Env) -> None:
    key = new_key()
    started = time.monotonic()
    for _ in range(SENDS):
        request = proxy_request("Counter", key, "add", 1, delayMillis=int(DELAY_S * 1000))
        await env.ok("Proxy/oneWayCall", request)
    if time.monotonic() - started < DELAY_S * 0.8:
        # Still well inside the delay: nothing may have run yet.
        assert await counter_value(env, key) == 0

    async def all_added() -> bool:
        return await counter_value(env, key) == SENDS

    await eventually(all_added, what="the delayed sends to run", within=SENDS * DELAY_S)
    elapsed = time.monotonic() - started
    assert elapsed >= DELAY_S
    # The delay elapses before the sends join the key's queue: they run together, not one
    # delay after another (that would take SENDS * DELAY_S).
    assert elapsed < (SENDS / 2) * DELAY_S


# Each entry: issue that append as a one-way send (True) or as a call awaited at the end (False).
# The last one is a call so the appends are done when manyCalls returns.
@pytest.mark.parametrize(
    "as_sends",
    [(True, False, False), (False, True, False), (True, True, False)],
    ids=["send-call-call", "call-send-call", "send-send-call"],
)
async def test_call_ordering(env: Env, as_sends: tuple[bool, ...]) -> None:
    key = new_key()
    requests = [
        {
            "proxyRequest": proxy_request("ListObject", key, "append", str(index)),
            "oneWayCall": send,
            "awaitAtTheEnd": not send,
        }
        for index, send in enumerate(as_sends)
    ]
    await env.ok("Proxy/manyCalls", requests)
    assert await env.ok(f"ListObject/{key}/clear") == ["0", "1", "2"]
