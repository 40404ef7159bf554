"""`RunOptions(timeout=…)` and `ctx.heartbeat()` end to end: the SDK's step runner, the
heartbeat frame and the server's attempt session, in one process on a real store.

The heartbeat tests use a short form by default (a 6 s step under a 2 s abort timeout);
PERDURE_LONG_TESTS=1 runs the long form (20 s under 5 s).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import perdure
from tests.features.harness import embedded_server

LONG = os.environ.get("PERDURE_LONG_TESTS") == "1"
STEP_S, ABORT_S = (20.0, 5.0) if LONG else (6.0, 2.0)
BEAT_S = 0.5


class Steps:
    """Services whose steps record when each attempt of a step began."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self.release = threading.Event()  # set at teardown: no thread outlives the test
        self.first_returned = threading.Event()

    def called(self, step: str) -> int:
        calls = self.calls.setdefault(step, [])
        calls.append(time.monotonic())
        return len(calls)

    def app(self) -> perdure.sdk.endpoint.Endpoint:
        steps = perdure.Service("Steps")
        alive = perdure.Service(
            "Alive",
            inactivity_timeout=timedelta(seconds=ABORT_S / 2),
            abort_timeout=timedelta(seconds=ABORT_S),
        )
        one_second = perdure.RunOptions[str](timeout=timedelta(seconds=1))

        @steps.handler()
        async def sync_step(ctx: perdure.Context) -> str:
            def body() -> str:
                if self.called("sync") == 1:
                    self.release.wait(60)  # stuck, as far as the attempt can tell
                    self.first_returned.set()
                    return "late"
                # The first body returns while this attempt runs: its result must be dropped.
                self.release.set()
                self.first_returned.wait(10)
                return "fresh"

            return await ctx.run_typed("slow", body, one_second)

        @steps.handler()
        async def async_step(ctx: perdure.Context) -> str:
            async def body() -> str:
                if self.called("async") == 1:
                    await asyncio.sleep(60)
                return "fresh"

            return await ctx.run_typed("slow", body, one_second)

        @steps.handler()
        async def gives_up(ctx: perdure.Context) -> str:
            async def body() -> str:
                self.called("gives_up")
                await asyncio.sleep(60)
                return "never"

            options = perdure.RunOptions[str](timeout=timedelta(seconds=0.3), max_attempts=2)
            try:
                return await ctx.run_typed("slow", body, options)
            except perdure.TerminalError as exc:
                return f"gave up: {exc.message}"

        @alive.handler()
        async def beating(ctx: perdure.Context) -> str:
            def body() -> str:  # sync: heartbeats from the worker thread
                self.called("beating")
                deadline = time.monotonic() + STEP_S
                while time.monotonic() < deadline:
                    ctx.heartbeat()
                    self.release.wait(BEAT_S)
                return "done"

            return await ctx.run("long", body)

        @alive.handler()
        async def beating_async(ctx: perdure.Context) -> str:
            async def body() -> str:
                self.called("beating_async")
                deadline = time.monotonic() + STEP_S
                while time.monotonic() < deadline:
                    ctx.heartbeat()
                    await asyncio.sleep(BEAT_S)
                return "done"

            return await ctx.run("long", body)

        @alive.handler()
        async def stuck(ctx: perdure.Context) -> str:
            async def body() -> str:
                if self.called("stuck") == 1:
                    await asyncio.sleep(STEP_S)  # silent: no heartbeat
                return "done"

            return await ctx.run("long", body)

        return perdure.app([steps, alive])


async def test_a_sync_step_over_its_timeout_fails_its_attempt_and_retries(tmp_path: Path) -> None:
    steps = Steps()
    try:
        async with embedded_server(steps.app(), tmp_path / "data") as server:
            began = time.monotonic()
            response = await server.ingress.post("/Steps/sync_step", json=None)
            took = time.monotonic() - began
    finally:
        steps.release.set()
    assert response.status_code == 200, response.text
    assert response.json() == "fresh"  # not the first body's late "late"
    first, second = steps.calls["sync"]
    assert 1.0 <= second - first < 5.0, second - first  # ~1 s timeout + the retry delay
    assert took < 15.0


async def test_an_async_step_over_its_timeout_fails_its_attempt_and_retries(
    tmp_path: Path,
) -> None:
    steps = Steps()
    async with embedded_server(steps.app(), tmp_path / "data") as server:
        response = await server.ingress.post("/Steps/async_step", json=None)
    assert response.status_code == 200 and response.json() == "fresh"
    first, second = steps.calls["async"]
    assert 1.0 <= second - first < 5.0, second - first


async def test_a_step_that_keeps_timing_out_follows_its_retry_policy(tmp_path: Path) -> None:
    steps = Steps()
    async with embedded_server(steps.app(), tmp_path / "data") as server:
        response = await server.ingress.post("/Steps/gives_up", json=None)
    assert response.status_code == 200, response.text
    assert response.json().startswith("gave up: StepTimeoutError(")
    assert "ran longer than its timeout of 0.3s" in response.json()
    assert len(steps.calls["gives_up"]) == 2


async def test_a_step_that_heartbeats_outlives_the_abort_timeout(tmp_path: Path) -> None:
    steps = Steps()
    try:
        async with embedded_server(steps.app(), tmp_path / "data") as server:
            sync_call = server.ingress.post("/Alive/beating", json=None)
            async_call = server.ingress.post("/Alive/beating_async", json=None)
            responses = await asyncio.gather(sync_call, async_call)
    finally:
        steps.release.set()
    assert [r.json() for r in responses] == ["done", "done"]
    # One attempt each, although each step ran 3x the abort timeout.
    assert len(steps.calls["beating"]) == 1 and len(steps.calls["beating_async"]) == 1


async def test_a_silent_step_is_aborted_and_retried(tmp_path: Path) -> None:
    steps = Steps()
    async with embedded_server(steps.app(), tmp_path / "data") as server:
        response = await server.ingress.post("/Alive/stuck", json=None)
    assert response.status_code == 200 and response.json() == "done"
    first, second = steps.calls["stuck"]
    # Aborted after the inactivity timeout plus the abort timeout, not after the step ended.
    assert ABORT_S * 1.5 <= second - first < STEP_S, second - first
