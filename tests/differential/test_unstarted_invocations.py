"""Cancel and kill of invocations that have not started (a delayed send, one waiting in its
key's inbox), against both servers: restate drops them and frees their idempotency key,
so attach answers 404, the same send is accepted anew, and a second cancel finds nothing.
"""

from __future__ import annotations

import asyncio

import pytest

from .harness import Servers, Side, differ

pytestmark = pytest.mark.interop


async def _row(side: Side, invocation_id: str, label: str) -> None:
    rows = await side.query(
        f"SELECT status, completion_result, completion_failure FROM sys_invocation "
        f"WHERE id = '{invocation_id}'"
    )
    side.note(label, rows)


async def test_cancel_and_kill_of_a_delayed_send(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        headers = {"idempotency-key": side.key("ik")}
        target = f"/Counter/{key}/add"
        delayed = await side.send(target, 1, params={"delay": "30s"}, headers=headers)
        await _row(side, delayed, "scheduled")
        await side.manage("PATCH", f"/invocations/{delayed}/cancel")
        await _row(side, delayed, "after cancel")
        for operation in ("attach", "output"):
            await side.call(f"/restate/invocation/{delayed}/{operation}", method="GET")
            await side.call(
                f"/restate/invocation/Counter/{key}/add/{headers['idempotency-key']}/{operation}",
                method="GET",
            )
        for operation in ("cancel", "kill", "purge"):
            await side.manage("PATCH", f"/invocations/{delayed}/{operation}")
        # The key is free again: the same send is a new invocation, with the same id.
        again = await side.send(target, 1, params={"delay": "30s"}, headers=headers)
        assert again == delayed
        await side.manage("PATCH", f"/invocations/{again}/kill")
        await _row(side, again, "after kill")
        await side.call(f"/restate/invocation/{again}/attach", method="GET")
        await side.send(target, 1, params={"delay": "30s"}, headers=headers)
        await side.manage("PATCH", f"/invocations/{again}/cancel")

    await differ(interop, scenario)


async def test_cancel_and_kill_of_an_inboxed_invocation(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        holder = await side.send(f"/Awakeables/{key}/wait")
        await side.wait_status(holder, "running", "suspended")
        ik = side.key("ik")
        headers = {"idempotency-key": ik}
        # A call queued behind the holder: the caller waits, and hears it was canceled.
        waiting = asyncio.ensure_future(
            side.call(f"/Awakeables/{key}/wait", headers=headers, record=False)
        )
        lookup = await side.call(
            "/restate/lookup",
            {
                "target": "idempotentInvocation",
                "service": "Awakeables",
                "key": key,
                "handler": "wait",
                "idempotencyKey": ik,
            },
        )
        pending = str(lookup.json()["invocationId"])
        await side.wait_status(pending, "pending")
        await side.manage("PATCH", f"/invocations/{pending}/cancel")
        side.transcript.record("the queued call", await waiting)
        await _row(side, pending, "after cancel")
        await side.call(f"/restate/invocation/{pending}/output", method="GET")
        await side.manage("PATCH", f"/invocations/{pending}/cancel")
        again = await side.send(f"/Awakeables/{key}/wait", headers=headers)
        await side.wait_status(again, "pending")
        await side.manage("PATCH", f"/invocations/{again}/kill")
        await _row(side, again, "after kill")
        # The holder still runs; killing it completes it (retained) as 409 "killed".
        await side.manage("PATCH", f"/invocations/{holder}/kill")
        await side.wait_status(holder, "completed")
        await _row(side, holder, "holder killed")
        await side.call(f"/restate/invocation/{holder}/output", method="GET")

    await differ(interop, scenario)
