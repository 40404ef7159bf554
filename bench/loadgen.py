"""The load generator: a child process of its own, so its CPU is not charged to the system under
test and the runner can read the servers' /proc counters around exactly one phase.

Protocol (one JSON object per line): it prints {"ready": true} once imported; then for every
phase the runner writes {"workload", "tag", "requests", "concurrency", "limit_s"} and it answers
with the phase's figures (its own CPU time included); an empty line (or end of input) ends it.

Closed loop: `concurrency` workers each send their next request as soon as the previous one is
answered, until `requests` were sent, over one aiohttp session (HTTP/1.1 keep-alive, connections
kept across phases). aiohttp rather than httpx: measured on this machine against the same
server, httpx spent 1.7-3 ms of CPU per call, aiohttp 0.5-1, and on 2 cores every client
millisecond is taken from the system under test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.workloads import WORKLOADS, Workload

ERROR_SAMPLES = 5
CALL_TIMEOUT_S = 60.0


async def run_phase(session: aiohttp.ClientSession, command: dict[str, Any]) -> dict[str, Any]:
    workload: Workload = WORKLOADS[command["workload"]]
    tag: str = command["tag"]
    total: int = command["requests"]
    latencies: list[float] = []
    per_key: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    samples: list[str] = []
    next_index = 0

    def failed(kind: str, detail: str) -> None:
        failures[kind] += 1
        if len(samples) < ERROR_SAMPLES:
            samples.append(detail)

    async def call(i: int) -> None:
        path, body = workload.request(tag, i)
        start = time.perf_counter()
        try:
            async with session.post(path, json=body) as resp:
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            failed(type(exc).__name__, f"POST {path}: {type(exc).__name__} {exc}")
            return
        elapsed = time.perf_counter() - start
        if status != 200:
            failed(f"HTTP {status}", f"POST {path} -> {status} {text[:300]}")
            return
        if workload.expected is not None and json.loads(text) != workload.expected(i):
            failed("wrong answer", f"POST {path} -> {text[:200]}, expected {workload.expected(i)}")
            return
        latencies.append(elapsed * 1000.0)
        if workload.counter_key is not None:
            per_key[workload.counter_key(i)] += 1

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            i, next_index = next_index, next_index + 1
            await call(i)

    cpu_before, wall_before = time.process_time(), time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(command["concurrency"])]
    _, pending = await asyncio.wait(workers, timeout=command["limit_s"])
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        # Every call not answered by now: those in flight and those never sent.
        unanswered = total - len(latencies) - sum(failures.values())
        failures["phase limit"] += unanswered
        samples.append(f"{unanswered} calls unanswered after {command['limit_s']} s")
    wall = time.perf_counter() - wall_before
    return {
        "latencies_ms": latencies,
        "ok": len(latencies),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "error_samples": samples,
        "wall_s": wall,
        "client_cpu_s": time.process_time() - cpu_before,
        "per_key": dict(per_key),
    }


async def serve(ingress_url: str) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3600)
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    async with aiohttp.ClientSession(ingress_url, connector=connector, timeout=timeout) as session:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                return
            result = await run_phase(session, json.loads(line))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
