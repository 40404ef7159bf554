"""Durable sleep, service-to-service calls and sends (delayed, idempotent), gather."""

from __future__ import annotations

import time

import pytest

from tests.support.polling import eventually

from .harness.clients import expect_status, json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def _counter(env: Env, key: str) -> int:
    value: int = json_result(await env.ingress.call(f"/Counter/{key}/get"))
    return value


async def test_durable_sleep_lasts_at_least_its_duration(env: Env) -> None:
    started = time.monotonic()
    assert json_result(await env.ingress.call("/Timers/sleep", 1000)) == "woke up"
    assert time.monotonic() - started >= 1.0


async def test_call_returns_the_callee_result(env: Env) -> None:
    assert (
        json_result(await env.ingress.call("/Caller/call_add", {"key": env.key, "delta": 5})) == 5
    )
    assert await _counter(env, env.key) == 5


async def test_one_way_send_runs_the_target(env: Env) -> None:
    sent_id = json_result(await env.ingress.call("/Caller/send_add", {"key": env.key, "delta": 2}))
    assert sent_id.startswith("inv_1")
    # The send's own invocation can be attached to; it completes with the callee's result.
    assert json_result(await env.ingress.attach(sent_id)) == 2
    assert await _counter(env, env.key) == 2


async def test_delayed_send_runs_after_the_delay(env: Env) -> None:
    started = time.monotonic()
    request = {"key": env.key, "delta": 1, "delay_ms": 1500}
    sent_id = json_result(await env.ingress.call("/Caller/send_add", request))

    async def applied() -> bool:
        return await _counter(env, env.key) == 1

    await eventually(applied, what="the delayed add to run", within=20)
    assert time.monotonic() - started >= 1.5
    assert json_result(await env.ingress.attach(sent_id)) == 1


async def test_send_with_idempotency_key_is_deduplicated(env: Env) -> None:
    request = {"key": env.key, "delta": 10, "idempotency_key": f"once-{env.key}"}
    first = json_result(await env.ingress.call("/Caller/send_add", request))
    second = json_result(await env.ingress.call("/Caller/send_add", request))
    assert first == second, "one idempotency key, one invocation"
    assert json_result(await env.ingress.attach(first)) == 10
    assert await _counter(env, env.key) == 10
    # A different key is a different invocation.
    other = json_result(
        await env.ingress.call("/Caller/send_add", {**request, "idempotency_key": "other"})
    )
    assert other != first
    assert json_result(await env.ingress.attach(other)) == 20


async def test_call_with_idempotency_key_is_deduplicated(env: Env) -> None:
    request = {"key": env.key, "delta": 4, "ikey": f"once-{env.key}"}
    results = json_result(await env.ingress.call("/Caller/call_add_idempotent_twice", request))
    assert results == [4, 4]
    assert await _counter(env, env.key) == 4


async def test_gather_waits_for_all_calls(env: Env) -> None:
    keys = [env.new_key() for _ in range(3)]
    results = json_result(await env.ingress.call("/Caller/gather_adds", {"keys": keys, "delta": 7}))
    assert results == [7, 7, 7]
    for key in keys:
        assert await _counter(env, key) == 7


async def test_ingress_send_with_delay_and_idempotency_key(env: Env) -> None:
    started = time.monotonic()
    first = await env.ingress.send(f"/Counter/{env.key}/add", 3, delay="1s", idempotency_key="k1")
    again = await env.ingress.send(f"/Counter/{env.key}/add", 3, delay="1s", idempotency_key="k1")
    assert first["status"] == "Accepted"
    assert again == {**first, "status": "PreviouslyAccepted"}
    assert json_result(expect_status(await env.ingress.attach(first["invocationId"]), 200)) == 3
    assert time.monotonic() - started >= 1.0
    assert await _counter(env, env.key) == 3
