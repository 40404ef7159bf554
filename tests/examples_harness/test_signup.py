"""examples/signup.py under perdure.testing: a day-long wait in milliseconds, and every
crash point of a sign-up."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import fake_world
import pytest

from perdure.sdk.endpoint import Endpoint
from perdure.testing import Harness
from tests.examples.harness import load_example

signup = load_example("signup")


@pytest.fixture
def perdure_app() -> Endpoint:
    return signup.app


@pytest.fixture(autouse=True)
def daily_reminders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signup, "REMINDER_AFTER", timedelta(hours=24))


def code_in(mail: dict[str, Any]) -> str:
    found = re.search(r"confirmation code is ([0-9a-f-]{36})", mail["body"])
    assert found, f"no code in {mail}"
    return found.group(1)


async def test_sign_up_with_a_day_long_wait_for_the_reminder(perdure_harness: Harness) -> None:
    h = perdure_harness
    wall = time.perf_counter()
    started = h.now
    workflow = h.client.workflow(signup.SignUp, "ann")
    handle = await workflow.submit(signup.User(name="Ann", email="ann@example.com"))
    await h.settle()
    assert await workflow.stage() == "waiting-for-click"
    (verification,) = fake_world.entries("outbox")

    await h.advance(timedelta(hours=23, minutes=59))
    assert [m["subject"] for m in fake_world.entries("outbox")] == ["Sign-up verification"]
    await h.advance(timedelta(minutes=1))
    reminder = fake_world.entries("outbox")[-1]
    assert reminder["subject"] == "Sign-up reminder 1"
    assert code_in(reminder) == code_in(verification)  # ctx.uuid() replayed, not redrawn

    await workflow.approve_email(code_in(reminder))
    assert await workflow.attach() == "user-ann"
    view = await h.wait_completed(handle.invocation_id)
    elapsed = time.perf_counter() - wall
    print(f"\nsign-up with a 24 h reminder: {elapsed * 1000:.0f} ms of wall time")

    assert h.now - started == timedelta(hours=24)
    assert elapsed < 60, "the 24 h of sleeps took real time; the clock is not virtual"
    assert view.result == "user-ann"
    assert view.state["stage"] == "verified"
    assert [e.name for e in view.entries("RUN")] == [
        "create user",
        "send verification e-mail",
        "send reminder 1 e-mail",
    ]
    assert len(view.entries("SLEEP")) == 2
    assert len(fake_world.entries("accounts")) == 1


async def test_the_readme_example() -> None:
    """README.md's "Testing your services" example, as written there."""
    async with Harness(signup.app) as h:
        handle = await h.client.workflow(signup.SignUp, "ann").submit(
            signup.User("Ann", "ann@example.com")
        )
        await h.advance(signup.REMINDER_AFTER)
        view = await h.invocation(handle.invocation_id)
        assert view.entries("RUN")[-1].name == "send reminder 1 e-mail"


async def test_no_click_expires_after_three_days_of_reminders(perdure_harness: Harness) -> None:
    h = perdure_harness
    workflow = h.client.workflow(signup.SignUp, "bo")
    handle = await workflow.submit(signup.User(name="Bo", email="bo@example.com"))
    await h.advance(timedelta(days=4))
    view = await h.wait_completed(handle.invocation_id)
    assert view.failure is not None and view.failure.code == 408
    subjects = [m["subject"] for m in fake_world.entries("outbox")]
    assert subjects == ["Sign-up verification"] + [f"Sign-up reminder {n}" for n in (1, 2, 3)]


async def sign_up_after_a_reminder(h: Harness) -> str:
    workflow = h.client.workflow(signup.SignUp, "cy")
    await workflow.submit(signup.User(name="Cy", email="cy@example.com"))
    await h.advance(timedelta(hours=25))
    await workflow.approve_email(code_in(fake_world.entries("outbox")[-1]))
    result: str = await workflow.attach()
    return result


async def test_every_crash_point_of_a_sign_up(
    perdure_harness: Harness, own_world: Callable[[Harness], None]
) -> None:
    async def scenario(h: Harness) -> str:
        own_world(h)
        return await sign_up_after_a_reminder(h)

    report = await perdure_harness.explore_crashes(scenario)
    print(f"\n{report}")
    assert report.ok
    assert len(report.entries) > 15  # the run's and both shared handlers' entries
    assert report.runs == len(report.entries) + 1
