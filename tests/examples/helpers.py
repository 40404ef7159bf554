"""What the example tests assert with: the fake world's records, polling, cancelling."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import fake_world
import httpx

__all__ = ["cancel", "effects", "eventually", "keys_once"]


async def eventually(probe: Callable[[], Any], *, what: str, within: float = 20.0) -> Any:
    """Poll `probe` (sync or async) until it returns something other than None or empty."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what}; last: {value!r}")
        await asyncio.sleep(0.05)


def effects(system: str, invocation_id: str, **match: Any) -> list[dict[str, Any]]:
    """What one invocation did to `system`: the records whose idempotency key is one of its
    steps' (fake_world.step_key)."""
    return [
        e for e in fake_world.entries(system, **match) if e["key"].startswith(f"{invocation_id}/")
    ]


def keys_once(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records`, after checking that no durable step reached the outside world twice."""
    twice = [k for k, n in Counter(r["key"] for r in records).items() if n > 1]
    assert not twice, f"steps that ran more than once: {twice}"
    return records


async def cancel(admin_url: str, invocation_id: str) -> None:
    """Cancel through the admin API, as `restate invocations cancel` does."""
    async with httpx.AsyncClient(base_url=admin_url, timeout=10.0) as admin:
        response = await admin.patch(f"/invocations/{invocation_id}/cancel")
    assert response.status_code in (200, 202), f"cancel: {response.status_code} {response.text}"
