"""The interop services (perdure's SDK) and the TypeScript SDK's, driven the same way on
both servers: results, errors, sends and attaches, workflow and awakeable flows, and what
introspection shows of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .harness import Servers, Side, differ

pytestmark = pytest.mark.interop

# restate gives every call without an idempotency key a random one (cluster feature
# `controlled-idempotent-sharding`); perdure does not (README, "perdure and Restate").
# restate also stamps its own version on the rows. Neither compares.
_NOT_COMPARED = {"idempotency_key", "created_using_restate_version"}
# Raw bytes and partition keys depend on the (different) keys; the entries' JSON is compared with
# its bytes as text and its times and partition keys as placeholders (`_readable_entry`).
_JOURNAL_COLUMNS = (
    "index, entry_type, name, completed, invoked_target, version, entry_json, entry_lite_json"
)
_UNCOMPARABLE = {"wake_up_time": "<time>", "invoke_time": "<time>", "partition_key": "<pk>"}


def _readable_entry(data: Any) -> Any:
    """entry_json with its byte arrays as text, so the scenario's keys inside them (an
    Input's payload, a result) normalise like any other string."""
    if isinstance(data, list) and data and all(isinstance(b, int) for b in data):
        return "bytes:" + bytes(data).decode("utf-8", errors="backslashreplace")
    if isinstance(data, list):
        return [_readable_entry(v) for v in data]
    if isinstance(data, dict):
        return {k: _UNCOMPARABLE.get(k) or _readable_entry(v) for k, v in data.items()}
    return data


async def note_invocation(side: Side, label: str, invocation_id: str) -> None:
    rows = await side.query(f"SELECT * FROM sys_invocation WHERE id = '{invocation_id}'")
    side.note(label, [{k: v for k, v in row.items() if k not in _NOT_COMPARED} for row in rows])


async def note_journal(side: Side, label: str, invocation_id: str) -> None:
    rows = await side.query(
        f"SELECT {_JOURNAL_COLUMNS} FROM sys_journal WHERE id = '{invocation_id}' ORDER BY index"
    )
    for row in rows:
        for column in ("entry_json", "entry_lite_json"):
            row[column] = _readable_entry(json.loads(row[column]))
    side.note(label, rows)


async def test_calls_sends_and_attach(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key, other = side.key(), side.key()
        await side.call(f"/Counter/{key}/add", 2)
        await side.call(f"/Counter/{key}/add", 3)
        await side.call(f"/Counter/{key}/get")
        called = await side.call("/Caller/call_add", {"key": other, "delta": 5})
        sent = await side.call("/Caller/send_add", {"key": other, "delta": 1})
        await side.call(
            "/Caller/call_add_idempotent_twice", {"key": other, "delta": 1, "ikey": "i"}
        )
        await side.call("/Caller/gather_adds", {"keys": [key, other], "delta": 10})
        # Attach once completed: a stored result comes with its expiry, a live one without.
        await side.wait_status(sent.json(), "completed")
        await side.call(f"/restate/invocation/{sent.json()}/attach", method="GET")
        await side.call(f"/restate/invocation/{sent.json()}/output", method="GET")
        await side.call(
            f"/restate/invocation/{called.headers['x-restate-id']}/output", method="GET"
        )
        await note_invocation(side, "the caller, completed", called.headers["x-restate-id"])
        await note_journal(side, "its journal", called.headers["x-restate-id"])
        await side.call("/Timers/sleep", 20)

    await differ(interop, scenario)


async def test_terminal_errors(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        failure = {"message": "nope", "code": 418, "metadata": {"why": "teapot"}}
        failed = await side.call("/Errors/fail", failure)
        await side.call(
            "/Errors/fail", {**failure, "metadata": {}}, headers={"idempotency-key": "e"}
        )
        await side.call("/Errors/fail", failure, headers={"idempotency-key": "e"})  # stored
        sent = await side.send("/Errors/fail", {**failure, "code": 599})
        await side.wait_status(sent, "completed")
        await side.call(f"/restate/invocation/{sent}/attach", method="GET")
        await note_invocation(side, "the failure", failed.headers["x-restate-id"])

    await differ(interop, scenario)


async def test_workflow(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        run = await side.send(f"/SignUp/{key}/run", "ann@example.com")
        await side.send(f"/SignUp/{key}/run", "ann@example.com")  # PreviouslyAccepted

        async def waiting() -> Any:
            response = await side.call(f"/SignUp/{key}/get_stage", record=False)
            return (response.content and response.json() == "waiting-for-click") or None

        await side.eventually(waiting, what="the workflow to wait for the click")
        await side.call(f"/restate/workflow/SignUp/{key}/output", method="GET")
        await side.call(f"/SignUp/{key}/run", "again")  # a call: 409
        await side.call(f"/SignUp/{key}/reject_email", "expired")
        await side.wait_status(run, "completed")
        await side.call(f"/restate/workflow/SignUp/{key}/attach", method="GET")
        await side.call(f"/restate/workflow/SignUp/{key}/output", method="GET")
        await side.call(f"/SignUp/{key}/get_stage")
        await side.call(f"/SignUp/{key}/reject_email", "again")  # the promise is completed

    await differ(interop, scenario)


async def _awakeable_of(side: Side, key: str) -> str:
    async def probe() -> str | None:
        response = await side.call(f"/Awakeables/{key}/awakeable_id", record=False)
        return str(response.json()) if response.content and response.json() else None

    return str(await side.eventually(probe, what="the awakeable id"))


async def test_awakeables(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key, other, third = side.key(), side.key(), side.key()
        waiting = await side.send(f"/Awakeables/{key}/wait")
        awakeable = await _awakeable_of(side, key)
        await side.call(f"/restate/awakeables/{awakeable}/resolve", "first")
        await side.call(f"/restate/awakeables/{awakeable}/resolve", "second")  # 202, ignored
        await side.wait_status(waiting, "completed")
        await side.call(f"/restate/invocation/{waiting}/attach", method="GET")
        await side.call(f"/Awakeables/{other}/wait_or_timeout", 30)
        rejected = await side.send(f"/Awakeables/{third}/wait")
        awakeable = await _awakeable_of(side, third)
        await side.call("/AwakeableResolver/reject", {"id": awakeable, "reason": "no"})
        await side.wait_status(rejected, "completed")
        await side.call(f"/restate/invocation/{rejected}/attach", method="GET")

    await differ(interop, scenario)


async def test_cancellation_with_compensation(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        blocked = await side.send(f"/Cancellable/{key}/block", "sleep")
        await side.wait_status(blocked, "running", "suspended")
        await side.manage("PATCH", f"/invocations/{blocked}/cancel")
        await side.wait_status(blocked, "completed")
        await side.call(f"/restate/invocation/{blocked}/attach", method="GET")
        await side.call(f"/Cancellable/{key}/compensated")
        await note_invocation(side, "canceled", blocked)
        await side.manage("PATCH", f"/invocations/{blocked}/cancel")  # completed: 409

    await differ(interop, scenario)


async def test_typescript_services(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        await side.call(f"/TsCounter/{key}/add", 4)
        await side.call(f"/TsCounter/{key}/get")
        run = await side.send(f"/TsApproval/{key}/run", {"amount": 5})

        async def waiting() -> Any:
            response = await side.call(f"/TsApproval/{key}/stage", record=False)
            return (response.status_code == 200 and response.json() == "waiting") or None

        await side.eventually(waiting, what="the approval to wait")
        await side.call(f"/TsApproval/{key}/decide", "approved")
        await side.wait_status(run, "completed")
        await side.call(f"/restate/invocation/{run}/attach", method="GET")
        await note_journal(side, "the workflow's journal", run)

    await differ(interop, scenario)
