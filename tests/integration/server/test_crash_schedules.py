"""A schedule ticking every second survives kill -9 of `perdure server`: every tick in the
run gets exactly one invocation, none doubled and (catch-up "all") none missed, although the
server was down for some of them.

CI form: ~20 s with 3 kills. PERDURE_LONG_TESTS=1: 60 s with 3 kills.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import HERE, PerdureServer, ServeApp, wait_until

LONG = os.environ.get("PERDURE_LONG_TESTS") == "1"
RUN_S = 60.0 if LONG else 20.0
KILLS = 3


@pytest.mark.timeout(RUN_S + 120)
def test_each_tick_runs_once_across_three_kill9(
    server: PerdureServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    # The app imports the perdure under test (the caller's PYTHONPATH), not only this folder.
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    url = serve_app(
        "schedule_services:app", {"PERDURE_SCHEDULE_RUNS": str(runs), "PYTHONPATH": path}
    )
    registered = server.register(url)
    assert registered.status_code == 201, registered.text
    admin = httpx.Client(base_url=server.admin, timeout=30)
    schedule = admin.get("/schedules/every-second").json()
    assert schedule["source"] == "code" and schedule["catch_up"] == "all"

    began = time.monotonic()
    for kill in range(1, KILLS + 1):
        at = began + RUN_S * kill / (KILLS + 1)
        wait_until(lambda at=at: time.monotonic() >= at, RUN_S, f"kill {kill}")  # type: ignore[misc]
        server.kill9()
        server.start()
    wait_until(lambda: time.monotonic() >= began + RUN_S, RUN_S, "the end of the run")
    paused = admin.patch("/schedules/every-second/pause")
    assert paused.status_code == 200, paused.text
    final = paused.json()

    def all_completed() -> bool:
        rows = query(admin, "SELECT status FROM sys_invocation WHERE target_service_name = 'Cron'")
        return bool(rows) and all(r["status"] == "completed" for r in rows)

    wait_until(all_completed, 60, "every tick's invocation to complete")
    invocations = query(
        admin, "SELECT id, idempotency_key FROM sys_invocation WHERE target_service_name = 'Cron'"
    )
    ticks = sorted(int(r["idempotency_key"].rsplit("/", 1)[1]) for r in invocations)
    # One invocation per tick, and every tick from the first to the last one.
    assert len(ticks) == len(set(ticks))
    assert [b - a for a, b in itertools.pairwise(ticks)] == [1000] * (len(ticks) - 1)
    assert len(ticks) >= RUN_S - 5, len(ticks)
    assert final["fired"] == len(ticks) and final["skipped"] == 0

    # What the handler saw: each tick under one invocation id only (a retried attempt of the
    # same invocation may repeat a line), and every invocation ran.
    ids_by_tick: dict[str, set[str]] = defaultdict(set)
    for line in runs.read_text().splitlines():
        tick, invocation_id = line.split()
        ids_by_tick[tick].add(invocation_id)
    assert all(len(ids) == 1 for ids in ids_by_tick.values()), ids_by_tick
    assert {i for ids in ids_by_tick.values() for i in ids} == {r["id"] for r in invocations}
    admin.close()


def query(admin: httpx.Client, sql: str) -> list[dict[str, str]]:
    response = admin.post("/query", json={"query": sql}, headers={"accept": "application/json"})
    assert response.status_code == 200, response.text
    rows: list[dict[str, str]] = response.json()["rows"]
    return rows
