"""One (system, workload) measurement: warm-up, then the sequential and the two concurrent
phases driven by the load generator, with every role's CPU read around each phase and its
peak RSS over the whole measurement; counter workloads end with the exact-count check."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.procstats import cpu_seconds, peak_rss_mb, reset_peak_rss, session_pids
from bench.systems import RunningSystem
from bench.workloads import Workload

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    """How many requests each phase sends. A concurrent phase sends `concurrent` requests, at
    least `rounds` per worker, so that the 128-worker phase is not all ramp-up and drain."""

    name: str
    warmup: int
    sequential: int
    concurrent: int
    rounds: int
    reps: int
    limit_s: float  # a phase that takes longer is cut and counted as failed

    def concurrent_requests(self, level: int, share: float = 1.0) -> int:
        return max(level, round(max(self.concurrent, self.rounds * level) * share))


class LoadGenerator:
    """The `bench.loadgen` child process for one system's ingress."""

    def __init__(self, ingress_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", ingress_url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if json.loads(self._read()) != {"ready": True}:
            raise RuntimeError("the load generator did not start")

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator exited ({self.process.wait()})")
        return line

    def phase(
        self, workload: Workload, tag: str, requests: int, concurrency: int, limit_s: float
    ) -> dict[str, Any]:
        assert self.process.stdin is not None
        command = {
            "workload": workload.name,
            "tag": tag,
            "requests": requests,
            "concurrency": concurrency,
            "limit_s": limit_s,
        }
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self._read())
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write("\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def read_counters(ingress_url: str, keys: list[str]) -> dict[str, int | str]:
    """Each counter's value through its shared `get` handler (an error text if that fails)."""
    values: dict[str, int | str] = {}
    with httpx.Client(base_url=ingress_url, timeout=30.0) as client:
        for key in keys:
            resp = client.post(f"/Counter/{key}/get")
            values[key] = (
                resp.json()
                if resp.status_code == 200
                else f"HTTP {resp.status_code} {resp.text[:200]}"
            )
    return values


def exact_count_check(per_key_adds: dict[str, int], values: dict[str, int | str]) -> dict[str, Any]:
    """Every counter must equal the number of its adds that were answered 200."""
    wrong = {
        key: {"adds_ok": per_key_adds.get(key, 0), "counter": values.get(key)}
        for key in sorted(set(per_key_adds) | set(values))
        if values.get(key) != per_key_adds.get(key, 0)
    }
    found = sum(v for v in values.values() if isinstance(v, int))
    return {
        "passed": not wrong,
        "adds_ok": sum(per_key_adds.values()),
        "counter_sum": found,
        "keys": len(values),
        "wrong_keys": wrong,
    }


def phase_tag(system: str, phase: str) -> str:
    """A tag for workflow keys and counter prefixes: `perdure-dev/inact0` has a slash, which
    would split the ingress path `/SignUp/{key}/run`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{system}-{phase}")


def measure(
    system: RunningSystem, workload: Workload, plan: Plan, load: LoadGenerator
) -> dict[str, Any]:
    roles = {role: session_pids(leader) for role, leader in system.roles.items()}
    rss_reset = all(reset_peak_rss(pids) for pids in roles.values())
    lo, hi = workload.levels
    phases: dict[str, dict[str, Any]] = {}
    plan_phases = [
        ("warmup", plan.warmup, min(plan.warmup, hi)),
        ("seq", max(2, round(plan.sequential * workload.sequential_share)), 1),
        ("lo", plan.concurrent_requests(lo, workload.concurrent_share), lo),
        ("hi", plan.concurrent_requests(hi, workload.concurrent_share), hi),
    ]
    for tag, requests, concurrency in plan_phases:
        before = {role: cpu_seconds(pids) for role, pids in roles.items()}
        result = load.phase(
            workload, phase_tag(system.spec.name, tag), requests, concurrency, plan.limit_s
        )
        result["cpu_s"] = {role: cpu_seconds(pids) - before[role] for role, pids in roles.items()}
        result["concurrency"] = concurrency
        result["requests"] = requests
        phases[tag] = result
        if result["failures"].get("phase limit"):
            break  # stuck: the runner starts the system again for the next workload
    stuck = [tag for tag, result in phases.items() if result["failures"].get("phase limit")]
    record: dict[str, Any] = {
        "phases": phases,
        "stuck_in": stuck[0] if stuck else None,
        "peak_rss_mb": {role: peak_rss_mb(pids) for role, pids in roles.items()},
        "peak_rss_reset": rss_reset,
        "pids": roles,
        "check": None,
    }
    if workload.counter_key is not None and not stuck:
        adds: dict[str, int] = {}
        for result in phases.values():
            for key, n in result["per_key"].items():
                adds[key] = adds.get(key, 0) + n
        keys = sorted({workload.counter_key(i) for i in range(max(p[1] for p in plan_phases))})
        record["check"] = exact_count_check(adds, read_counters(system.ingress_url, keys))
    for result in phases.values():
        result.pop("per_key", None)
    return record
