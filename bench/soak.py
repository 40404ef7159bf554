"""Soak: random programs against perdure under kill -9 and SIGSTOP, then exact accounting.

    python bench/soak.py --invocations 1000 --kills 3 --pauses 3            # CI's short form
    python bench/soak.py --invocations 20000 --kills 30 --pauses 15 --time-limit 3600
    python bench/soak.py --system dev --seed 1234                          # reproduce a run

Programs (bench/soak_programs.py) are generated from the seed (printed; `--seed` reproduces
the programs and the fault plan) until together they create `--invocations` invocations. Each
is submitted as an idempotent send (`SoakProgram/{key}/run/send`, one idempotency key per
program), retried with the same key until accepted, then attached to until it answers; its
result or failure must be the oracle's. Meanwhile the nemesis kills (-9) and pauses (SIGSTOP,
then SIGCONT) the server and, in `server` mode, the endpoints, at random points of the load.
At the end (soak_checks.py) the store must hold exactly the invocations the programs create,
all completed, one per idempotency key, one RunCompletion per completion id, every counter
exact, and the data file must pass `PRAGMA integrity_check`. Exit status 1 on any problem.
Run it in a loopback-only namespace like the tests (`scripts/bench bench/soak.py ...`), or
anywhere: it only binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.soak_checks import Findings, check_store, integrity, query  # noqa: E402
from bench.soak_programs import FAIL_STATUS, Program, generate, totals  # noqa: E402
from bench.soak_system import Nemesis, SoakSystem  # noqa: E402

RETRY_PAUSE_S = 0.1
QUIET_DEADLINE_S = 120.0  # after the last answer: delayed sends and their adds finish


@dataclass
class Load:
    """What the driver saw."""

    programs: list[Program]
    accepted: int = 0
    answered: int = 0
    submit_retries: int = 0  # transport errors and 5xx while submitting
    previously_accepted: int = 0  # a retry found the key already accepted (in-doubt request)
    attach_retries: int = 0
    wrong: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


class Driver:
    def __init__(self, system: SoakSystem, load: Load, deadline: float) -> None:
        self.system = system
        self.load = load
        self.deadline = deadline

    async def run(self, concurrency: int) -> None:
        queue: asyncio.Queue[Program] = asyncio.Queue()
        for program in self.load.programs:
            queue.put_nowait(program)
        limits = httpx.Limits(
            max_connections=concurrency * 2, max_keepalive_connections=concurrency
        )
        timeout = httpx.Timeout(30.0, connect=3.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            await asyncio.gather(*(self._worker(client, queue) for _ in range(concurrency)))

    async def _worker(self, client: httpx.AsyncClient, queue: asyncio.Queue[Program]) -> None:
        while not queue.empty():
            program = queue.get_nowait()
            invocation_id = await self._submit(client, program)
            if invocation_id is None:
                self.load.unanswered.append(f"#{program.number}: never accepted")
                continue
            self.load.accepted += 1
            answer = await self._attach(client, invocation_id)
            if answer is None:
                self.load.unanswered.append(f"#{program.number} {invocation_id}: no answer")
                continue
            self.load.answered += 1
            problem = _verdict(program, *answer)
            if problem:
                self.load.wrong.append(f"#{program.number} {invocation_id}: {problem}")

    async def _submit(self, client: httpx.AsyncClient, program: Program) -> str | None:
        headers = {"idempotency-key": program.idempotency_key}
        tried = False
        while time.monotonic() < self.deadline:
            url = f"{self.system.ingress_url}/SoakProgram/{program.key}/run/send"
            try:
                response = await client.post(url, json=program.body, headers=headers)
            except httpx.TransportError:
                tried = True
                self.load.submit_retries += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if response.status_code == 202:
                data = response.json()
                if tried and data.get("status") == "PreviouslyAccepted":
                    self.load.previously_accepted += 1
                return str(data["invocationId"])
            if response.status_code >= 500:
                self.load.submit_retries += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            raise AssertionError(
                f"submitting #{program.number}: {response.status_code} {response.text}"
            )
        return None

    async def _attach(
        self, client: httpx.AsyncClient, invocation_id: str
    ) -> tuple[int, Any] | None:
        while time.monotonic() < self.deadline:
            url = f"{self.system.ingress_url}/restate/invocation/{invocation_id}/attach"
            try:
                response = await client.get(url)
            except httpx.TransportError:
                self.load.attach_retries += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            # An invocation's own failure is an answer; the server's 5xx are not.
            answered = response.headers.get("x-restate-error-source") == "invocation"
            if response.status_code >= 500 and not answered:
                self.load.attach_retries += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            return response.status_code, response.json()
        return None


def _verdict(program: Program, status: int, body: Any) -> str | None:
    expected = program.expected
    if expected.failure is not None:
        if status != FAIL_STATUS or body.get("message") != expected.failure:
            return f"expected failure {expected.failure!r}, got {status} {body}"
        return None
    if status != 200 or body != expected.result:
        return f"expected {expected.result}, got {status} {body}"
    return None


def _drive(driver: Driver, concurrency: int) -> None:
    try:
        asyncio.run(driver.run(concurrency))
    except BaseException as exc:  # reported with the figures; the run then fails
        driver.load.wrong.append(f"the driver failed: {exc!r}")


def _run_nemesis(nemesis: Nemesis, load: Load, driver: threading.Thread) -> None:
    """Inject the planned faults while the driver runs. Runs on the main thread, which
    started the processes: a child started from another thread would get SIGTERM when that
    thread ends (tests/support sets PR_SET_PDEATHSIG, which follows the parent *thread*)."""
    while nemesis.done < len(nemesis.plan) and driver.is_alive():
        fault = nemesis.next_fault(load.accepted / len(load.programs))
        if fault is None:
            driver.join(0.05)
            continue
        kind, target, delay, length = fault
        driver.join(delay)
        nemesis.inject(kind, target, length)


def _wait_quiet(system: SoakSystem, invocations: int, deadline: float) -> None:
    """Until every invocation the programs create exists and completed (delayed sends last)."""
    while time.monotonic() < deadline:
        try:
            rows = query(
                system.admin_url,
                "SELECT count(*) AS n, "
                "sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS done FROM sys_invocation",
            )
        except (httpx.TransportError, AssertionError):
            rows = []
        if rows and int(rows[0]["n"]) >= invocations and rows[0]["n"] == rows[0]["done"]:
            return
        time.sleep(0.2)


def soak(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    programs = generate(args.seed, args.invocations)
    counters, invocations, runs = totals(programs)
    load = Load(programs)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix=f"perdure-soak-{mode}-"))
    system = SoakSystem(mode, workdir)
    findings = Findings()
    started = time.monotonic()
    system.start()
    nemesis = Nemesis(system, rng, args.kills, args.pauses, args.jitter)
    deadline = started + args.time_limit
    driver = threading.Thread(
        target=_drive, args=(Driver(system, load, deadline), args.concurrency), name="soak-driver"
    )
    try:
        driver.start()
        _run_nemesis(nemesis, load, driver)
        driver.join()
        _wait_quiet(system, invocations, min(deadline, time.monotonic() + QUIET_DEADLINE_S))
        check_store(
            system.admin_url,
            findings,
            programs=len(programs),
            invocations=invocations,
            run_completions=runs,
            counters=counters,
        )
    finally:
        driver.join()
        system.stop()
    duration = time.monotonic() - started
    findings.figures["integrity_check"] = integrity(system.data_dir)
    findings.expect(findings.figures["integrity_check"] == "ok", "integrity_check failed")
    findings.problems.extend(load.unanswered[:20])
    findings.problems.extend(load.wrong[:20])
    findings.expect(
        nemesis.done == len(nemesis.plan), f"only {nemesis.done} of {len(nemesis.plan)} faults ran"
    )
    stored = findings.figures.get("invocations_stored", 0)
    lost = len(load.unanswered) + max(0, invocations - stored)
    duplicated = max(0, stored - invocations) + findings.figures.get("run_completions_doubled", 0)
    return {
        "mode": mode,
        "seed": args.seed,
        "programs": len(programs),
        "invocations": invocations,
        "kills": nemesis.log.count("kill"),
        "kills_server": nemesis.log.count("kill server"),
        "kills_endpoint": nemesis.log.count("kill endpoint"),
        "pauses": nemesis.log.count("pause"),
        "faults": nemesis.log.events,
        "duration_s": round(duration, 1),
        "invocations_per_s": round(invocations / duration, 1),
        "submit_retries": load.submit_retries,
        "previously_accepted": load.previously_accepted,
        "attach_retries": load.attach_retries,
        "wrong_results": len(load.wrong),
        "lost": lost,
        "duplicated": duplicated,
        **findings.figures,
        "problems": findings.problems,
        "workdir": str(workdir),
    }


def print_summary(report: dict[str, Any]) -> None:
    ok = not report["problems"]
    print(
        f"soak {report['mode']}: seed {report['seed']}, {report['programs']} programs, "
        f"{report['invocations']} invocations ({report.get('invocations_stored', '?')} stored), "
        f"{report['kills']} kills ({report['kills_server']} server, "
        f"{report['kills_endpoint']} endpoint), {report['pauses']} pauses, "
        f"{report['duration_s']} s ({report['invocations_per_s']} invocations/s)"
    )
    print(
        f"  {report['lost']} lost, {report['duplicated']} duplicated, "
        f"{report['wrong_results']} wrong results, counter diff {report.get('counter_diff', '?')} "
        f"over {report.get('counters', '?')} counters, {report.get('run_completions', '?')} "
        f"run completions ({report.get('run_completions_doubled', '?')} recorded twice), "
        f"integrity {report.get('integrity_check', '?')}"
    )
    print(
        f"  client retries: {report['submit_retries']} submits "
        f"({report['previously_accepted']} found already accepted), "
        f"{report['attach_retries']} attaches"
    )
    for problem in report["problems"]:
        print(f"  !!! {problem}")
    print(f"  {'PASS' if ok else 'FAIL'} (data in {report['workdir']})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=1000, help="invocations to create")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 faults")
    parser.add_argument("--pauses", type=int, default=3, help="SIGSTOP/SIGCONT faults")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a run")
    parser.add_argument(
        "--system", choices=["server", "dev", "both"], default="server", help="what to soak"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="programs in flight")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per system")
    parser.add_argument("--jitter", type=float, default=1.0, help="max delay of a fault (s)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**9)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"soak seed {args.seed} (rerun with --seed {args.seed})", flush=True)
    modes = ["server", "dev"] if args.system == "both" else [args.system]
    reports = []
    for mode in modes:
        report = soak(args, mode)
        print_summary(report)
        reports.append(report)
    if args.json is not None:
        args.json.write_text(json.dumps(reports, indent=2))
    return 1 if any(r["problems"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
