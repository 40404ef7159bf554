"""Many suspended invocations (workflows sleeping for hours) keep `perdure dev` under a memory
bound: what stays in memory per suspended invocation is its timer in the timer service's heap
(and set), and the store's row cache is capped (tables.RowCache.LIMIT rows), so past the cap
RSS grows only by the timers. Measured: RSS at CHECKPOINTS; the figures are printed (and
quoted in bench/README.md, "Memory of suspended invocations").

PERDURE_SUSPENDED sets how many (default 4000; the documented long form: 100000).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.perdure import PerdureServer

HERE = Path(__file__).parent
TOTAL = int(os.environ.get("PERDURE_SUSPENDED", "4000"))
WARMUP = min(1000, TOTAL // 4)
CONCURRENCY = 32
# Bounds, in bytes: a fixed allowance (the row cache filling up to its cap, SQLite's page
# cache, allocator slack) plus a little per suspended invocation (its timer).
FIXED_ALLOWANCE = 96 * 1024 * 1024
PER_INVOCATION = 1024
SERVER_ENV = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s"}  # every await suspends


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    server = PerdureServer(
        tmp_path_factory.mktemp("suspended"), SERVER_ENV, app=HERE / "fault_services.py"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _start_sleepers(dev: PerdureServer, first: int, last: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, last):
        queue.put_nowait(n)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            sent = await client.post(f"{dev.ingress_url}/Nap/n{n}/run/send", json=24)
            assert sent.status_code == 202, sent.text

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))


def _suspended(dev: PerdureServer) -> int:
    response = httpx.post(
        f"{dev.admin_url}/query",
        json={"query": "SELECT count(*) AS n FROM sys_invocation WHERE status = 'suspended'"},
        headers={"accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["rows"][0]["n"])


def _settled(dev: PerdureServer, count: int) -> int:
    deadline = time.monotonic() + 120
    while (n := _suspended(dev)) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return n


@pytest.mark.timeout(3600)
async def test_suspended_invocations_stay_under_the_memory_bound(dev: PerdureServer) -> None:
    assert dev.process is not None and dev.process.pid is not None
    pid = dev.process.pid
    started = time.monotonic()
    await _start_sleepers(dev, 0, WARMUP)
    assert _settled(dev, WARMUP) == WARMUP
    base = _rss(pid)
    figures = [(WARMUP, base)]
    steps = 4
    for step in range(1, steps + 1):
        upto = WARMUP + (TOTAL - WARMUP) * step // steps
        await _start_sleepers(dev, figures[-1][0], upto)
        assert _settled(dev, upto) == upto, "not every workflow suspended"
        figures.append((upto, _rss(pid)))
    elapsed = time.monotonic() - started
    growth = figures[-1][1] - base
    per = growth / (TOTAL - WARMUP)
    last_quarter = (figures[-1][1] - figures[-2][1]) / (figures[-1][0] - figures[-2][0])
    print(
        f"\n{TOTAL} suspended invocations in {elapsed:.0f} s: RSS "
        + ", ".join(f"{n}: {rss / 2**20:.1f} MiB" for n, rss in figures)
        + f"; {per:.0f} B per invocation overall, {last_quarter:.0f} B in the last quarter"
    )
    assert growth < FIXED_ALLOWANCE + PER_INVOCATION * (TOTAL - WARMUP), figures
    # Still serving, and the sleepers are all still there.
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{dev.ingress_url}/Tally/m/add", json=1)
    assert answer.json() == 1
    assert _suspended(dev) == TOTAL
