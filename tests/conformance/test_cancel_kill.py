"""Cancellation and kill (Restate sdk-tests `Cancellation`, `KillInvocation`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.support.polling import eventually

from .client import Env, expect, json_of, new_key, proxy_request

pytestmark = pytest.mark.conformance

OPERATIONS = ["CALL", "SLEEP", "AWAKEABLE"]


async def release_sync_point(env: Env, key: str) -> None:
    """Wait until the blocked handler registered its awakeable, then resolve it."""

    async def registered() -> bool:
        return bool(await env.ok(f"AwakeableHolder/{key}/hasAwakeable", idempotent=False))

    await eventually(registered, what="the awakeable to be registered")
    await env.ok(f"AwakeableHolder/{key}/unlock", "cancel")


async def cancel_until_verified(env: Env, key: str, cancel: Callable[[], Awaitable[None]]) -> None:
    # The cancel may land before the runner reached its blocking operation; Restate's test
    # retries it until verifyTest (queued behind the runner on the same key) reports success.
    async def verified() -> bool:
        await cancel()
        try:
            async with asyncio.timeout(1):
                return bool(await env.ok(f"CancelTestRunner/{key}/verifyTest"))
        except TimeoutError:
            return False

    await eventually(verified, what="the runner to observe the cancellation", within=30)

    async def unlocked() -> bool:
        resp = await env.call(f"CancelTestBlockingService/{key}/isUnlocked")
        return expect(resp, 200).status_code == 200

    await eventually(unlocked, what="the blocking service to be unlocked")


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_cancel_from_admin_api(env: Env, operation: str) -> None:
    key = new_key()
    sent = await env.send(f"CancelTestRunner/{key}/startTest", operation, idempotency_key=new_key())
    invocation_id = sent["invocationId"]
    await release_sync_point(env, key)

    async def cancel() -> None:
        resp = await env.admin.patch(f"/invocations/{invocation_id}/cancel")
        # 200 done, 202 signal appended; 404/409 while racing with completion are fine.
        expect(resp, 200, 202, 404, 409)

    await cancel_until_verified(env, key, cancel)


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_cancel_from_context(env: Env, operation: str) -> None:
    key = new_key()
    invocation_id = await env.ok(
        "Proxy/oneWayCall", proxy_request("CancelTestRunner", key, "startTest", operation)
    )
    await release_sync_point(env, key)

    async def cancel() -> None:
        await env.ok("TestUtilsService/cancelInvocation", invocation_id)

    await cancel_until_verified(env, key, cancel)


async def test_kill_invocation(env: Env) -> None:
    key = new_key()
    sent = await env.send(f"KillTestRunner/{key}/startCallTree", idempotency_key=new_key())
    invocation_id = sent["invocationId"]
    # After this the singleton calls itself on its own key: a deadlock only a kill ends.
    await release_sync_point(env, key)

    async def killed() -> bool:
        resp = await env.admin.patch(f"/invocations/{invocation_id}/kill")
        return expect(resp, 200, 202, 404, 409).status_code in (200, 202)

    await eventually(killed, what="the kill to be accepted")

    # Killing the runner kills its call tree, which releases the singleton's key.
    async def unlocked() -> bool:
        try:
            async with asyncio.timeout(1):
                resp = await env.call(f"KillTestSingleton/{key}/isUnlocked")
        except (TimeoutError, httpx.TimeoutException):
            return False
        return json_of(resp) is None

    await eventually(unlocked, what="the singleton to be unlocked after the kill", within=30)

    attached = await env.attach(invocation_id)
    assert attached.status_code == 409, attached.text  # the runner completed as killed
