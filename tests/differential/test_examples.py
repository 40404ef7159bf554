"""The example programs (services/: saga, reminders, state machine, payments, workers),
each on perdure's SDK and on the official restate-sdk (`sdk` is the service names'
suffix), driven the same way on restate-server and on perdure's server."""

from __future__ import annotations

from typing import Any

import pytest

from .harness import Servers, Side, differ
from .test_interop_services import note_invocation, note_journal

pytestmark = pytest.mark.interop


async def test_saga_compensates_in_reverse(examples: Servers, sdk: str) -> None:
    async def scenario(side: Side) -> None:
        ok = await side.call(f"/Trip{sdk}/book", {"trip": side.key("trip")})
        await note_journal(side, "a booked trip's journal", ok.headers["x-restate-id"])
        failed = await side.call(f"/Trip{sdk}/book", {"trip": side.key("trip"), "fail": ["hotel"]})
        await note_journal(side, "the compensated trip's journal", failed.headers["x-restate-id"])
        await note_invocation(side, "the compensated trip", failed.headers["x-restate-id"])
        await side.call(f"/Trip{sdk}/book", {"trip": side.key("trip"), "fail": ["flight"]})

    await differ(examples, scenario)


async def test_reminders_with_delays_and_cancel(examples: Servers, sdk: str) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        base = f"/Reminders{sdk}/{key}"
        late = await side.call(f"{base}/schedule", {"name": "late", "delay_ms": 30_000})
        soon = await side.call(f"{base}/schedule", {"name": "soon", "delay_ms": 100})
        late_id, soon_id = str(late.json()), str(soon.json())
        side.note("late is scheduled", await side.status(late_id))
        await side.call(f"{base}/cancel", "late")  # ctx.cancel_invocation: the cron pattern
        await side.wait_status(soon_id, "completed")
        await side.call(f"{base}/fired")
        side.note("late after its cancel", await side.status(late_id))
        await side.call(f"/restate/invocation/{late_id}/attach", method="GET")
        await side.call(f"{base}/cancel", "late")  # nothing pending any more
        # Its idempotency key is free again: the same reminder is scheduled anew.
        again = await side.call(f"{base}/schedule", {"name": "late", "delay_ms": 30_000})
        side.note("rescheduled with the same id", str(again.json()) == late_id)
        await side.manage("PATCH", f"/invocations/{late_id}/cancel")

    await differ(examples, scenario)


async def test_state_machine(examples: Servers, sdk: str) -> None:
    async def scenario(side: Side) -> None:
        base = f"/Door{sdk}/{side.key()}"
        for event in ("open", "open", "close", "lock", "open", "unlock", "open", "fly"):
            await side.call(f"{base}/act", event)
        await side.call(f"{base}/state")

    await differ(examples, scenario)


async def test_payments_are_idempotent(examples: Servers, sdk: str) -> None:
    async def scenario(side: Side) -> None:
        account = side.key("acct")
        payment: dict[str, Any] = {"account": account, "amount": 30, "payment": side.key("pay")}
        headers = {"idempotency-key": side.key("ik")}
        first = await side.call(f"/Payments{sdk}/charge", payment, headers=headers)
        await side.call(f"/Payments{sdk}/charge", payment, headers=headers)  # stored result
        await side.call(f"/Payments{sdk}/charge/send", payment, headers=headers)
        await side.call(f"/Account{sdk}/{account}/balance")
        ik = headers["idempotency-key"]
        for operation in ("attach", "output"):
            await side.call(
                f"/restate/invocation/Payments{sdk}/charge/{ik}/{operation}", method="GET"
            )
        await note_journal(side, "the charge's journal", first.headers["x-restate-id"])
        # Another payment retried by the handler's own idempotency key: debited once.
        again = {**payment, "amount": 200}
        await side.call(f"/Payments{sdk}/charge", again)
        await side.call(f"/Payments{sdk}/charge", {**again, "payment": side.key("pay")})
        await side.call(f"/Account{sdk}/{account}/balance")

    await differ(examples, scenario)


async def test_workers_sleep_and_retry(examples: Servers, sdk: str) -> None:
    async def scenario(side: Side) -> None:
        worker = f"/Worker{sdk}/{side.key('w')}"
        task = {"name": side.key("task"), "failures": 2, "max_attempts": 5}
        done = await side.call(f"{worker}/work", task)
        await note_journal(side, "a retried step's journal", done.headers["x-restate-id"])
        doomed = {"name": side.key("task"), "failures": 9, "max_attempts": 2, "sleep_ms": 10}
        failed = await side.call(f"{worker}/work", doomed)
        await note_invocation(side, "a worker that gave up", failed.headers["x-restate-id"])
        await side.call(f"{worker}/last")

    await differ(examples, scenario)
