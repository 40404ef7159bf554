"""Cron schedules in one process on a manual clock: code and API schedules, the catch-up
and overlap policies, pause/resume/trigger/backfill/delete, and `sys_schedule`."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

import perdure
from perdure.server.clock import ManualClock
from tests.features.harness import Server, embedded_server
from tests.support.polling import eventually

START_MS = 1_800_000_000_000  # a whole second: ticks of "* * * * * *" fall on it


class Ticks:
    """A service whose handler records the tick header of every run; `block` holds runs
    until `release` is set (for the overlap policies)."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.block = False
        self.release = asyncio.Event()

    def app(self, schedules: list[perdure.Schedule] | None = None) -> perdure.sdk.endpoint.Endpoint:
        svc = perdure.Service("Ticker")

        @svc.handler()
        async def tick(ctx: perdure.Context, label: str) -> str:
            when = ctx.request().headers.get("x-perdure-schedule-tick", "manual?")
            self.runs.append(f"{label}@{when}")
            if self.block:
                await self.release.wait()
            return when

        self.handler = tick
        return perdure.app([svc], schedules=schedules(tick) if callable(schedules) else [])


def every_second(**options: object):  # type: ignore[no-untyped-def]
    def make(handler: object) -> list[perdure.Schedule]:
        return [perdure.Schedule("* * * * * *", handler, "s", name="sec", **options)]

    return make


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


async def run(
    ticks: Ticks, clock: ManualClock, tmp_path: Path, **options: object
) -> AsyncIterator[Server]:
    endpoint = ticks.app(every_second(**options))  # type: ignore[arg-type]
    async with embedded_server(endpoint, tmp_path / "data", clock) as server:
        yield server


async def advance(clock: ManualClock, ms: int) -> None:
    clock.advance(ms)
    await asyncio.sleep(0.02)  # let the timer service submit the firing


async def tick(server: Server, clock: ManualClock, seconds: int = 1) -> None:
    """Move the clock `seconds` on, one second at a time, each time until the schedule has
    handled that tick, then until the timer service waits again: a sleep started while
    the manual clock moves would wait past the tick."""
    for _ in range(seconds):
        await settle(server)
        clock.advance(1000)
        due = _iso(clock.now_ms())
        await eventually(
            partial(_handled, server, due), what=f"the tick at {due} to be handled", within=10
        )
    await settle(server)


async def settle(server: Server) -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def _handled(server: Server, due: str) -> bool:
    return (await schedule(server))["last_fire_at"] == due


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


async def schedule(server: Server, name: str = "sec") -> dict[str, object]:
    response = await server.admin.get(f"/schedules/{name}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def tick_times(ticks: Ticks) -> list[str]:
    return [r.split("@", 1)[1] for r in ticks.runs]


async def wait_runs(ticks: Ticks, count: int) -> None:
    await eventually(lambda: len(ticks.runs) >= count, what=f"{count} runs", within=10)


async def test_a_code_schedule_runs_once_per_tick(tmp_path: Path, clock: ManualClock) -> None:
    ticks = Ticks()
    async for server in run(ticks, clock, tmp_path, catch_up="all"):
        row = await schedule(server)
        assert row["source"] == "code" and row["next_fire_at"] == "2027-01-15T08:00:01.000Z"
        await tick(server, clock, 5)
        await wait_runs(ticks, 5)
        assert tick_times(ticks) == [f"2027-01-15T08:00:0{s}.000Z" for s in range(1, 6)]
        assert ticks.runs[0].startswith("s@")  # the declared argument
        row = await schedule(server)
        assert row["fired"] == 5 and row["skipped"] == 0
        assert row["last_fire_at"] == "2027-01-15T08:00:05.000Z"
        query = await server.admin.post(
            "/query",
            json={
                "query": "SELECT name, fired, next_fire_at, last_invocation_status "
                "FROM sys_schedule"
            },
        )
        assert query.json()["rows"] == [
            {
                "name": "sec",
                "fired": 5,
                "next_fire_at": "2027-01-15T08:00:06Z",  # restate's /query timestamp text
                "last_invocation_status": "completed",
            }
        ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("all", list(range(1, 11))), ("latest", [10]), ("skip", [10])],
)
async def test_missed_ticks_follow_the_catch_up_policy(
    tmp_path: Path, clock: ManualClock, policy: str, expected: list[int]
) -> None:
    ticks = Ticks()
    async for server in run(ticks, clock, tmp_path, catch_up=policy, overlap="allow"):
        await settle(server)
        await advance(clock, 10_500)  # the timer fires 9.5 s late: ten ticks are due
        await wait_runs(ticks, len(expected))
        await asyncio.sleep(0.1)
        assert tick_times(ticks) == [f"2027-01-15T08:00:{s:02d}.000Z" for s in expected]
        row = await schedule(server)
        assert row["fired"] == len(expected) and row["skipped"] == 10 - len(expected)
        assert row["next_fire_at"] == "2027-01-15T08:00:11.000Z"


async def test_overlap_skip_drops_ticks_while_the_last_run_runs(
    tmp_path: Path, clock: ManualClock
) -> None:
    ticks = Ticks()
    ticks.block = True
    async for server in run(ticks, clock, tmp_path, overlap="skip"):
        await tick(server, clock, 3)
        await wait_runs(ticks, 1)
        ticks.release.set()
        await eventually(partial(_completed, server), what="the first run to end", within=10)
        await tick(server, clock)
        await wait_runs(ticks, 2)
        assert tick_times(ticks) == ["2027-01-15T08:00:01.000Z", "2027-01-15T08:00:04.000Z"]
        assert (await schedule(server))["skipped"] == 2


async def _completed(server: Server) -> bool:
    row = await schedule(server)
    return (
        row["last_invocation_id"] is not None
        and await _status(server, str(row["last_invocation_id"])) == "completed"
    )


async def _status(server: Server, invocation_id: str) -> str | None:
    query = await server.admin.post(
        "/query", json={"query": f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'"}
    )
    rows = query.json()["rows"]
    return rows[0]["status"] if rows else None


async def test_overlap_buffer_one_runs_the_newest_held_tick_after_the_last_run(
    tmp_path: Path, clock: ManualClock
) -> None:
    ticks = Ticks()
    ticks.block = True
    async for server in run(ticks, clock, tmp_path, overlap="buffer_one"):
        await tick(server, clock, 3)
        await wait_runs(ticks, 1)
        assert (await schedule(server))["buffered_tick"] == "2027-01-15T08:00:03.000Z"
        ticks.release.set()  # the first run ends: the held tick (the newest) runs now
        await wait_runs(ticks, 2)
        assert tick_times(ticks) == ["2027-01-15T08:00:01.000Z", "2027-01-15T08:00:03.000Z"]
        row = await schedule(server)
        assert row["buffered_tick"] is None and row["skipped"] == 1 and row["fired"] == 2


async def test_overlap_allow_runs_every_tick_at_once(tmp_path: Path, clock: ManualClock) -> None:
    ticks = Ticks()
    ticks.block = True
    async for server in run(ticks, clock, tmp_path, overlap="allow"):
        await tick(server, clock, 3)
        await wait_runs(ticks, 3)
        ticks.release.set()
        assert (await schedule(server))["fired"] == 3


async def test_the_admin_api_manages_schedules(tmp_path: Path, clock: ManualClock) -> None:
    ticks = Ticks()
    async with embedded_server(ticks.app(), tmp_path / "data", clock) as server:
        admin = server.admin
        body = {
            "name": "nightly",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "target": "Ticker/tick",
            "argument": "n",
            "catch_up": "latest",
        }
        created = await admin.post("/schedules", json=body)
        assert created.status_code == 201, created.text
        # 03:00 in Berlin (UTC+1 in January) is 02:00 UTC, the next one after 08:00.
        assert created.json()["next_fire_at"] == "2027-01-16T02:00:00.000Z"
        assert created.json()["source"] == "api"
        assert (await admin.post("/schedules", json=body)).status_code == 409
        bad = await admin.post("/schedules", json={**body, "name": "x", "cron": "61 * * * *"})
        assert bad.status_code == 400 and "cron" in bad.json()["message"]
        zone = await admin.post("/schedules", json={**body, "name": "x", "timezone": "Mars/Base"})
        assert zone.status_code == 400
        gone = await admin.post("/schedules", json={**body, "name": "x", "target": "No/such"})
        assert gone.status_code == 404
        listed = (await admin.get("/schedules")).json()["schedules"]
        assert [s["name"] for s in listed] == ["nightly"]

        paused = await admin.patch("/schedules/nightly/pause")
        assert paused.json()["paused"] is True and paused.json()["next_fire_at"] is None
        await advance(clock, 24 * 3600 * 1000)
        await asyncio.sleep(0.1)
        assert ticks.runs == []  # no tick while paused
        resumed = await admin.patch("/schedules/nightly/resume")
        assert resumed.json()["next_fire_at"] == "2027-01-17T02:00:00.000Z"

        triggered = await admin.post("/schedules/nightly/trigger")
        assert triggered.status_code == 200
        await wait_runs(ticks, 1)
        assert (await schedule(server, "nightly"))["last_invocation_id"] == triggered.json()[
            "invocation_id"
        ]

        window = {"from": "2027-01-10T00:00:00Z", "to": "2027-01-12T23:59:59Z"}
        filled = await admin.post("/schedules/nightly/backfill", json=window)
        assert filled.status_code == 200 and len(filled.json()["invocation_ids"]) == 3
        await wait_runs(ticks, 4)
        assert sorted(tick_times(ticks))[:3] == [
            "2027-01-10T02:00:00.000Z",
            "2027-01-11T02:00:00.000Z",
            "2027-01-12T02:00:00.000Z",
        ]
        again = await admin.post("/schedules/nightly/backfill", json=window)
        assert again.json()["invocation_ids"] == []  # a tick's invocation is never doubled

        assert (await admin.delete("/schedules/nightly")).status_code == 204
        assert (await admin.get("/schedules/nightly")).status_code == 404
        assert (await admin.delete("/schedules/nightly")).status_code == 404


async def test_code_schedules_follow_the_manifest_across_restarts(
    tmp_path: Path, clock: ManualClock
) -> None:
    ticks = Ticks()
    async with embedded_server(ticks.app(every_second()), tmp_path / "data", clock) as server:
        await tick(server, clock, 2)
        await wait_runs(ticks, 2)
    # Restarted with the same schedule: its progress is kept, no tick runs twice.
    async with embedded_server(ticks.app(every_second()), tmp_path / "data", clock) as server:
        row = await schedule(server)
        assert row["fired"] == 2 and row["last_fire_at"] == "2027-01-15T08:00:02.000Z"
        await tick(server, clock)
        await wait_runs(ticks, 3)
        assert len(set(tick_times(ticks))) == 3
    # Restarted without it: the code schedule is gone.
    async with embedded_server(ticks.app(), tmp_path / "data", clock) as server:
        assert (await server.admin.get("/schedules")).json()["schedules"] == []
