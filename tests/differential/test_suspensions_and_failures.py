"""Suspensions on signals (request-response deployments: every await suspends) and failing
attempts, against both servers, with what sys_invocation shows of each state."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .harness import Servers, Side, differ
from .test_interop_services import note_invocation

pytestmark = pytest.mark.interop

# Columns of a suspended invocation's row that the scenarios compare.
_SUSPENDED = (
    "status, suspended_waiting_for_completions, suspended_waiting_for_signals, "
    "suspended_waiting_future_json, journal_size, retry_count, last_failure"
)
# Of a failing one: the last failure and what the SDK said it concerns. Whether it is
# running or backing off at a given moment, how often it was retried and when, and which
# execution's message is last, all depend on timing: they are compared as shapes.
_FAILING = (
    "status, last_failure, last_failure_error_code, last_failure_related_command_index, "
    "last_failure_related_command_name, last_failure_related_command_type, "
    "last_attempt_server, last_attempt_deployment_id, pinned_deployment_id, "
    "retry_count, next_retry_at"
)


def _failing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["status"] = row["status"] in ("running", "backing-off")
        out["last_failure"] = re.sub(r"\d+", "N", str(row.get("last_failure")))
        out["retry_count"] = int(row.get("retry_count", 0)) > 0
        out["next_retry_at"] = "next_retry_at" in row or row["status"] == "running"
        return out

    return [shape(row) for row in rows]


async def _row(side: Side, columns: str, invocation_id: str) -> list[dict[str, Any]]:
    return await side.query(f"SELECT {columns} FROM sys_invocation WHERE id = '{invocation_id}'")


def _suspended(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """restate keeps what a suspension waits on in hash sets: in no order. Sorted."""
    for row in rows:
        for column in ("suspended_waiting_for_completions", "suspended_waiting_for_signals"):
            row[column] = sorted(row.get(column, []))
        future = json.loads(row.get("suspended_waiting_future_json", "{}"))
        for combinator, singles in future.items():
            future[combinator] = sorted(singles, key=lambda s: json.dumps(s, sort_keys=True))
        row["suspended_waiting_future_json"] = future
    return rows


async def _awakeable_of(side: Side, base: str) -> str:
    async def probe() -> str | None:
        response = await side.call(f"{base}/awakeable_id", record=False)
        return str(response.json()) if response.content and response.json() else None

    return str(await side.eventually(probe, what="the awakeable id"))


async def test_a_named_signal_resumes_a_suspension(examples: Servers) -> None:
    """B3: a suspension waiting on a named signal (V6 `waiting_named_signals`) resumes when
    the signal is sent. Named signals are the official SDK's (`ctx.signal`)."""

    async def scenario(side: Side) -> None:
        key = side.key()
        waiting = await side.send(f"/WaiterPy/{key}/named_signal", "go")
        await side.wait_status(waiting, "suspended")
        side.note("suspended on the name", _suspended(await _row(side, _SUSPENDED, waiting)))
        await side.call("/NotifierPy/signal", {"id": waiting, "name": "other", "value": "no"})
        await side.call("/NotifierPy/signal", {"id": waiting, "name": "go", "value": "yes"})
        await side.wait_status(waiting, "completed")
        await side.call(f"/restate/invocation/{waiting}/attach", method="GET")

    await differ(examples, scenario)


async def test_awakeables_of_a_suspended_invocation(examples: Servers, sdk: str) -> None:
    """An awakeable resolved while suspended; one resolved twice (B4: the first value wins,
    and the second resolve is accepted like restate accepts it)."""

    async def scenario(side: Side) -> None:
        base = f"/Waiter{sdk}/{side.key()}"
        waiting = await side.send(f"{base}/awakeable")
        awakeable = await _awakeable_of(side, base)
        await side.wait_status(waiting, "suspended")
        side.note("suspended on the awakeable", _suspended(await _row(side, _SUSPENDED, waiting)))
        await side.call(f"/restate/awakeables/{awakeable}/resolve", "once")
        await side.wait_status(waiting, "completed")
        await side.call(f"/restate/invocation/{waiting}/attach", method="GET")
        await side.call(f"/restate/awakeables/{awakeable}/resolve", "too late")

        base = f"/Waiter{sdk}/{side.key()}"
        twice = await side.send(f"{base}/awakeable")
        awakeable = await _awakeable_of(side, base)
        await side.wait_status(twice, "suspended")
        body = {"id": awakeable, "first": "first", "second": "second"}
        await side.call(f"/Notifier{sdk}/resolve_twice", body)
        await side.wait_status(twice, "completed")
        await side.call(f"/restate/invocation/{twice}/attach", method="GET")

    await differ(examples, scenario)


async def test_a_failing_step_retried_then_killed(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        name = side.key("flaky")
        flaky = await side.send("/Runs/flaky", {"name": name, "succeed_on": 1000})

        async def retried() -> Any:
            rows = await _row(side, "retry_count", flaky)
            return (rows and rows[0].get("retry_count", 0) >= 2) or None

        await side.eventually(retried, what="the step to have failed twice")
        side.note("backing off", _failing(await _row(side, _FAILING, flaky)))
        await side.manage("PATCH", f"/invocations/{flaky}/kill")
        await note_invocation(side, "killed", flaky)

    await differ(interop, scenario)


async def test_a_journal_mismatch(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        flip = await side.send("/NonDeterministic/flip", side.key("flip"))

        async def mismatched() -> Any:
            rows = await _row(side, "last_failure", flip)
            return (rows and str(rows[0].get("last_failure", "")).startswith("[570")) or None

        await side.eventually(mismatched, what="the replay to mismatch")
        side.note("mismatched", _failing(await _row(side, _FAILING, flip)))
        await side.manage("PATCH", f"/invocations/{flip}/kill")

    await differ(interop, scenario)
