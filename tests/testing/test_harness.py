"""perdure.testing.Harness: the server in-process on virtual time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from perdure.testing import START, Harness, side_effect

from . import apps


@pytest.fixture
async def h() -> Harness:
    async with Harness(apps.app) as harness:
        yield harness  # type: ignore[misc]


async def test_a_week_long_sleep_takes_milliseconds(h: Harness) -> None:
    wall = time.perf_counter()
    call = asyncio.ensure_future(h.client.call(apps.week))
    await h.advance(timedelta(days=6, hours=23))
    assert not call.done()
    await h.advance(timedelta(hours=1))
    woke_at = await call
    print(f"\na week of virtual time in {(time.perf_counter() - wall) * 1000:.0f} ms")
    # ctx.time() reads the virtual clock: the handler woke exactly a week after the start.
    assert woke_at == (START + timedelta(days=7)).timestamp()
    assert h.now == START + timedelta(days=7)


async def test_timers_fire_in_due_order_and_each_wakes_its_invocation(h: Harness) -> None:

    three = await h.client.send(apps.nap, 3)
    one = await h.client.send(apps.nap, 1)
    await h.settle()
    assert h.count("nap3:1") == 0
    await h.advance(timedelta(hours=5))
    assert [e.name for e in h.side_effects] == ["nap3:1", "nap1:1", "nap3:2", "nap3:3"]
    assert (await h.wait_completed(three.invocation_id)).result == "rested"
    assert (await h.wait_completed(one.invocation_id)).result == "rested"


async def test_the_inactivity_timeout_suspends_on_virtual_time() -> None:
    async with Harness(apps.app, inactivity_timeout=timedelta(minutes=1)) as h:
        handle = await h.client.send(apps.forever)
        await h.advance(timedelta(seconds=59))
        assert (await h.invocation(handle.invocation_id)).status == "running"
        await h.advance(timedelta(seconds=1))
        view = await h.invocation(handle.invocation_id)
        assert view.status == "suspended"
        assert [e.kind for e in view.journal] == ["INPUT"]


async def test_the_abort_timeout_ends_an_attempt_that_cannot_suspend() -> None:
    async with Harness(
        apps.app, inactivity_timeout=timedelta(minutes=1), abort_timeout=timedelta(minutes=1)
    ) as h:
        handle = await h.client.send(apps.stuck_step)
        await h.advance(timedelta(seconds=119))
        assert (await h.invocation(handle.invocation_id)).attempts == 1
        await h.advance(timedelta(seconds=1))
        view = await h.invocation(handle.invocation_id)
        assert view.retry_count >= 1 or view.attempts > 1, view
        assert view.last_failure is not None and "abort" in view.last_failure.lower()


async def test_invocation_shows_status_journal_and_result(h: Harness) -> None:
    handle = await h.client.send(apps.nap, 1)
    await h.settle()
    view = await h.invocation(handle.invocation_id)
    assert (view.status, view.target) in {("running", "Timers/nap"), ("suspended", "Timers/nap")}
    assert [e.kind for e in view.journal] == ["INPUT", "SLEEP"]
    await h.advance(timedelta(hours=1))
    view = await h.wait_completed(handle.invocation_id)
    assert view.result == "rested"
    assert [e.kind for e in view.journal][-1] == "OUTPUT"
    assert view.entries("RUN")[0].name == "hour"
    assert [v.id for v in await h.invocations(service="Timers")] == [handle.invocation_id]


async def test_restart_recovers_in_flight_work_and_a_waiting_call(h: Harness) -> None:
    call = asyncio.ensure_future(h.client.call(apps.nap, 2))
    await h.advance(timedelta(hours=1))
    await h.restart()
    assert h.restarts == 1
    await h.advance(timedelta(hours=1))
    assert await asyncio.wait_for(call, 10) == "rested"
    assert h.count("nap2:1") == 1 and h.count("nap2:2") == 1


async def test_side_effect_outside_a_handler_needs_the_harness() -> None:
    with pytest.raises(RuntimeError, match="outside a handler"):
        side_effect("e-mail")
