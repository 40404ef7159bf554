"""Crash exploration finds handlers that a crash breaks, and names the crash point."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from perdure.testing import Harness
from perdure.testing._hosting import AttemptTrace
from perdure.testing.crashes import CrashesChangeTheOutcome, ScenarioFailed
from perdure.testing.harness import RunRepeated

from . import apps

LONG_INACTIVITY = timedelta(hours=1)  # no suspension: only a crash makes these replay


async def call_and_wait(h: Harness, handler: object, *args: object, by: timedelta) -> object:
    call = asyncio.ensure_future(h.client.call(handler, *args))  # type: ignore[arg-type]
    await h.advance(by)
    return await call


async def test_a_correct_handler_survives_every_crash_point() -> None:
    async def scenario(h: Harness) -> object:
        return await call_and_wait(h, apps.nap, 2, by=timedelta(hours=2))

    async with Harness(apps.app, inactivity_timeout=LONG_INACTIVITY) as h:
        report = await h.explore_crashes(scenario)
    assert report.ok
    assert len(report.entries) == report.runs - 1 > 5
    assert [b.number for b in report.entries] == list(range(1, len(report.entries) + 1))


async def test_a_side_effect_outside_ctx_run_is_reported_at_its_crash_points() -> None:
    async def scenario(h: Harness) -> object:
        return await call_and_wait(h, apps.welcome, "ann", by=timedelta(minutes=10))

    async with Harness(apps.app, inactivity_timeout=LONG_INACTIVITY) as h:
        with pytest.raises(CrashesChangeTheOutcome) as failed:
            await h.explore_crashes(scenario)
    report = failed.value.report
    where = {str(f.boundary) for f in report.failures}
    assert "entry 4: Broken/welcome #3 Command: Sleep" in where
    problems = " ".join(p for f in report.failures for p in f.problems)
    assert "side effect 'e-mail' outside ctx.run happened again while Broken/welcome replayed" in (
        problems
    )
    assert "e-mail" in str(failed.value)


async def test_a_run_result_ignored_on_replay_changes_the_outcome() -> None:
    async def scenario(h: Harness) -> object:
        return await call_and_wait(h, apps.count, 3, by=timedelta(seconds=2))

    async with Harness(apps.app, inactivity_timeout=LONG_INACTIVITY) as h:
        report = await h.explore_crashes(scenario, raise_on_failure=False)
    assert not report.ok
    first = report.failures[0]
    assert first.boundary is not None
    assert (first.boundary.target, first.boundary.type) == ("Broken/count", "Notification: Run")
    assert "the scenario gave 0, not 1" in first.problems


async def test_the_side_effect_outside_ctx_run_shows_without_a_crash_when_it_suspends() -> None:
    async def scenario(h: Harness) -> object:
        return await call_and_wait(h, apps.welcome, "bo", by=timedelta(minutes=10))

    async with Harness(apps.app, inactivity_timeout=timedelta(seconds=1)) as h:
        report = await h.explore_crashes(scenario, boundaries=[], raise_on_failure=False)
    assert [f.boundary for f in report.failures] == [None]
    assert "without a crash" in str(report)


async def test_a_scenario_that_never_finishes_is_reported() -> None:
    async def scenario(h: Harness) -> object:
        return await h.client.call(apps.forever)

    async with Harness(apps.app) as h:
        with pytest.raises(ScenarioFailed, match="never finishes"):
            await h.explore_crashes(scenario, idle_limit=0.3)


async def test_a_run_proposed_again_after_its_result_was_journaled_is_recorded() -> None:
    async with Harness(apps.app) as h:
        call = asyncio.ensure_future(h.client.call(apps.nap, 1))
        await h.advance(timedelta(hours=1))
        await call
        (view,) = await h.invocations(service="Timers")
        run = view.entries("RUN")[0]
        assert run.message is not None
        completion = run.message.result_completion_id  # type: ignore[attr-defined]
        attempt = AttemptTrace(h, h.generation, "Timers", "nap", view.id)
        h.run_proposed(attempt, completion)
        assert h.repeated_runs == [RunRepeated(view.id, completion, "hour")]
        h.run_proposed(attempt, completion + 100)  # not journaled: a first execution
        assert len(h.repeated_runs) == 1
