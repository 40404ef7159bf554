"""Awakeables completed from the ingress and from another handler; select against a sleep."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support.polling import eventually

from .harness.clients import error_body, expect_status, json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def _start_waiting(
    env: Env, handler: str, body: object = None
) -> tuple[asyncio.Task[httpx.Response], str]:
    path = f"/Awakeables/{env.key}/{handler}"
    call = asyncio.create_task(
        env.ingress.call(path) if body is None else env.ingress.call(path, body)
    )

    async def awakeable_id() -> str | None:
        if call.done():
            raise AssertionError(f"{handler} returned early: {call.result().text}")
        found: str | None = json_result(
            await env.ingress.call(f"/Awakeables/{env.key}/awakeable_id")
        )
        return found

    return call, await eventually(awakeable_id, what="the handler to publish its awakeable id")


async def test_awakeable_resolved_from_the_ingress(env: Env) -> None:
    call, awakeable_id = await _start_waiting(env, "wait")
    assert awakeable_id.startswith("sign_1")
    await env.ingress.resolve_awakeable(awakeable_id, "hello")
    assert json_result(await call) == "hello"


async def test_awakeable_rejected_from_the_ingress(env: Env) -> None:
    call, awakeable_id = await _start_waiting(env, "wait")
    await env.ingress.reject_awakeable(awakeable_id, "no thanks")
    resp = await call
    assert resp.status_code == 500, resp.text
    assert error_body(resp)["message"] == "no thanks"


async def test_awakeable_resolved_from_another_handler(env: Env) -> None:
    call, awakeable_id = await _start_waiting(env, "wait")
    resolve = {"id": awakeable_id, "value": "from a handler"}
    expect_status(await env.ingress.call("/AwakeableResolver/resolve", resolve), 200)
    assert json_result(await call) == "from a handler"


async def test_awakeable_rejected_from_another_handler(env: Env) -> None:
    call, awakeable_id = await _start_waiting(env, "wait")
    reject = {"id": awakeable_id, "reason": "rejected by a handler"}
    expect_status(await env.ingress.call("/AwakeableResolver/reject", reject), 200)
    resp = await call
    assert resp.status_code == 500, resp.text
    assert error_body(resp)["message"] == "rejected by a handler"


async def test_select_returns_the_timeout_when_nobody_resolves(env: Env) -> None:
    started = time.monotonic()
    resp = await env.ingress.call(f"/Awakeables/{env.key}/wait_or_timeout", 500)
    assert json_result(resp) == "timeout"
    assert time.monotonic() - started >= 0.5


async def test_select_returns_the_awakeable_when_it_wins(env: Env) -> None:
    call, awakeable_id = await _start_waiting(env, "wait_or_timeout", 60_000)
    await env.ingress.resolve_awakeable(awakeable_id, "first")
    assert json_result(await call) == "awakeable:first"
