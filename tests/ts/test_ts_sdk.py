"""Issue 3's acceptance: perdure's server runs a counter object and a workflow written with
the TypeScript SDK (@restatedev/restate-sdk 1.17.2, services.cjs), over HTTP/2 (bidirectional)
and HTTP/1.1 (request-response), driven through the ingress with plain HTTP.

Run: scripts/test tests/ts
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from .conftest import Stack


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"{response.text}"
    )
    return response.json() if response.content else None


async def test_counter_keeps_its_state_across_invocations(stack: Stack) -> None:
    key = uuid.uuid4().hex[:12]
    async with stack.ingress() as ingress:
        assert ok(await ingress.post(f"/TsCounter/{key}/add", json=2)) == 2
        assert ok(await ingress.post(f"/TsCounter/{key}/add", json=3)) == 5
        assert ok(await ingress.get(f"/TsCounter/{key}/get")) == 5
        assert ok(await ingress.get(f"/TsCounter/{key}-other/get")) == 0

        # Sends queue behind the key's lock in arrival order; none is lost or applied twice.
        sent = [
            ok(await ingress.post(f"/TsCounter/{key}/add/send", json=n), 202)["invocationId"]
            for n in range(1, 6)
        ]
        results = [
            ok(await ingress.get(f"/restate/invocation/{invocation}/attach")) for invocation in sent
        ]
        assert results == [6, 8, 11, 15, 20]  # 5 + 1, + 2, ..., one at a time
        assert ok(await ingress.get(f"/TsCounter/{key}/get")) == 20
    # The TS SDK's core (7.0.x) advertises V5..V7; without RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7
    # the server drives it in V6, as restate-server 1.7 does.
    async with httpx.AsyncClient(
        base_url=stack.server.admin_url, timeout=10, headers={"accept": "application/json"}
    ) as admin:
        query = (
            "SELECT DISTINCT pinned_service_protocol_version AS v FROM sys_invocation "
            f"WHERE target_service_key = '{key}'"
        )
        rows = ok(await admin.post("/query", json={"query": query}))["rows"]
    assert rows == [{"v": 6}]


async def test_workflow_waits_for_its_promise(stack: Stack) -> None:
    key = uuid.uuid4().hex[:12]
    workflow = f"/TsApproval/{key}"
    async with stack.ingress() as ingress:
        accepted = ok(await ingress.post(f"{workflow}/run/send", json="leave"), 202)
        assert accepted["status"] == "Accepted"

        deadline = time.monotonic() + 20
        while (stage := ok(await ingress.post(f"{workflow}/stage"))) != "waiting":
            assert time.monotonic() < deadline, f"the stage stayed {stage!r}"
            await asyncio.sleep(0.05)
        output = await ingress.get(f"/restate/workflow/TsApproval/{key}/output")
        assert output.status_code == 470, output.text  # not done yet

        ok(await ingress.post(f"{workflow}/decide", json="approved"))

        expected = {"request": "leave", "ticket": f"ticket-{key}", "decision": "approved"}
        assert ok(await ingress.get(f"/restate/workflow/TsApproval/{key}/attach")) == expected
        assert ok(await ingress.get(f"/restate/workflow/TsApproval/{key}/output")) == expected
        assert ok(await ingress.post(f"{workflow}/stage")) == "decided"
        again = ok(await ingress.post(f"{workflow}/run/send", json="leave"), 202)
        assert (again["status"], again["invocationId"]) == (
            "PreviouslyAccepted",
            accepted["invocationId"],
        )
