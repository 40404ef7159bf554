"""State (Restate sdk-tests `State`) and admin state patching (e2e `StatePatchingTest`)."""

from __future__ import annotations

import json

import pytest

from tests.support.polling import eventually

from .client import Env, expect, new_key, proxy_request

pytestmark = pytest.mark.conformance


async def test_add(env: Env) -> None:
    counter = f"Counter/{new_key()}"
    assert await env.ok(f"{counter}/add", 1) == {"oldValue": 0, "newValue": 1}
    assert await env.ok(f"{counter}/add", 2) == {"oldValue": 1, "newValue": 3}
    assert await env.ok(f"{counter}/get") == 3


async def test_proxy_one_way_add(env: Env) -> None:
    key = new_key()
    for _ in range(3):
        invocation_id = await env.ok("Proxy/oneWayCall", proxy_request("Counter", key, "add", 1))
        assert isinstance(invocation_id, str) and invocation_id.startswith("inv_")

    async def counted() -> bool:
        return await env.ok(f"Counter/{key}/get", idempotent=False) == 3

    await eventually(counted, what="three proxied sends to reach the counter")


async def test_list_state_and_clear_all(env: Env) -> None:
    key = new_key()
    ours, other = f"MapObject/{key}", f"MapObject/{key}1"
    await env.ok(f"{ours}/set", {"key": "my-key-0", "value": "my-value-0"})
    await env.ok(f"{ours}/set", {"key": "my-key-1", "value": "my-value-1"})
    await env.ok(f"{other}/set", {"key": "my-key-2", "value": "my-value-2"})

    cleared = await env.ok(f"{ours}/clearAll")
    assert sorted((e["key"], e["value"]) for e in cleared) == [
        ("my-key-0", "my-value-0"),
        ("my-key-1", "my-value-1"),
    ]
    assert await env.ok(f"{ours}/get", "my-key-0") == ""
    assert await env.ok(f"{ours}/get", "my-key-1") == ""
    # Another key's state is untouched.
    assert await env.ok(f"{other}/get", "my-key-2") == "my-value-2"


async def test_state_patching(env: Env) -> None:
    key = new_key()
    obj = f"MapObject/{key}"
    await env.ok(f"{obj}/set", {"key": "state", "value": "initial-state"})
    assert await env.ok(f"{obj}/get", "state") == "initial-state"

    # Values are the stored bytes (JSON here, as the SDK's serde writes them) as arrays of numbers.
    patch = {"object_key": key, "new_state": {"state": list(json.dumps("patched-state").encode())}}

    async def accepted() -> bool:
        resp = await env.admin.post("/services/MapObject/state", json=patch)
        return expect(resp, 202, 503).status_code == 202

    await eventually(accepted, what="the state patch to be accepted")

    async def patched() -> bool:
        return await env.ok(f"{obj}/get", "state", idempotent=False) == "patched-state"

    await eventually(patched, what="the handler to see the patched state")
