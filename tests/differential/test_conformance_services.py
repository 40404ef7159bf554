"""The conformance services (official restate-sdk 1.2.0, Restate's e2e contracts), driven
the same way on both servers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .harness import Servers, Side, differ
from .test_interop_services import note_invocation, note_journal

pytestmark = pytest.mark.interop


def _proxied(service: str, handler: str, message: Any, key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceName": service,
        "handlerName": handler,
        "message": list(json.dumps(message).encode()),
    }
    if key is not None:
        body["virtualObjectKey"] = key
    return body


async def test_state_and_proxied_calls(examples: Servers) -> None:
    async def scenario(side: Side) -> None:
        key, items = side.key(), side.key()
        await side.call(f"/Counter/{key}/add", 1)
        await side.call(f"/Counter/{key}/add", 2)
        await side.call(f"/Counter/{key}/addThenFail", 3)
        await side.call(f"/Counter/{key}/get")
        called = await side.call(
            "/Proxy/call", _proxied("TestUtilsService", "uppercaseEcho", "ping")
        )
        await note_journal(side, "the proxy's journal", called.headers["x-restate-id"])
        sent = await side.call("/Proxy/oneWayCall", _proxied("Counter", "add", 5, key))
        await side.wait_status(str(sent.json()), "completed")
        await side.call(f"/restate/invocation/{sent.json()}/output", method="GET")
        calls = [
            {
                "proxyRequest": _proxied("ListObject", "append", str(i), items),
                "oneWayCall": i % 2 == 0,
                "awaitAtTheEnd": i == 1,
            }
            for i in range(4)
        ]
        await side.call("/Proxy/manyCalls", calls)
        await side.call(f"/ListObject/{items}/get")
        for name, value in (("a", "1"), ("b", "2")):
            await side.call(f"/MapObject/{key}/set", {"key": name, "value": value})
        await side.call(f"/MapObject/{key}/clearAll")
        await side.call(f"/MapObject/{key}/get", "a")

    await differ(examples, scenario)


async def test_utilities_errors_and_private_services(examples: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        await side.call("/TestUtilsService/echo", "hi")
        raw = bytes(range(256))
        headers = {"content-type": "application/octet-stream"}
        await side.call("/TestUtilsService/rawEcho", content=raw, headers=headers)
        await side.call("/TestUtilsService/countExecutedSideEffects", 3)
        failure = {"errorMessage": "boom", "metadata": {"a": "b"}}
        failed = await side.call(f"/Failing/{key}/terminallyFailingCall", failure)
        await side.call(f"/Failing/{key}/callTerminallyFailingCall", failure)
        await side.call(f"/Failing/{key}/terminallyFailingSideEffect", failure)
        await side.call(f"/Failing/{key}/sideEffectFailsAfterGivenAttempts", 2)
        await note_invocation(side, "a terminal failure", failed.headers["x-restate-id"])
        await side.call("/PrivateGreeter/greet", "ann")

    await differ(examples, scenario)


async def test_block_and_wait_workflow(examples: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        run = await side.send(f"/BlockAndWaitWorkflow/{key}/run", "Till")

        async def started() -> Any:
            response = await side.call(f"/BlockAndWaitWorkflow/{key}/getState", record=False)
            return (response.status_code == 200 and response.content and response.json()) or None

        await side.eventually(started, what="the workflow to set its state")
        await side.call(f"/restate/workflow/BlockAndWaitWorkflow/{key}/output", method="GET")
        await side.call(f"/BlockAndWaitWorkflow/{key}/unblock", "Till")
        await side.wait_status(run, "completed")
        await side.call(f"/restate/workflow/BlockAndWaitWorkflow/{key}/attach", method="GET")
        await side.send(f"/BlockAndWaitWorkflow/{key}/run", "again")
        await note_journal(side, "the workflow's journal", run)

    await differ(examples, scenario)
