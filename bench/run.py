"""The measuring stick: restate-server against perdure, on the same workloads, in one run.

Run it as `scripts/bench bench/run.py [--quick|--smoke] [--json OUT] [--systems ...]
[--workloads ...] [--reps N]` (a loopback-only network namespace: restate-server contacts
GitHub at every start). Every system is started from scratch for every repetition, the
repetitions are interleaved (A B C D, A B C D, ...), and the table shows medians over them with
the ratio to restate-server in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402  (tests/support reports a launch failure with pytest.fail)

from bench.machine import machine_info  # noqa: E402
from bench.measure import LoadGenerator, Plan, measure  # noqa: E402
from bench.output import print_report, problems_of, write_json  # noqa: E402
from bench.report import summarise  # noqa: E402
from bench.systems import (  # noqa: E402
    BASE_SYSTEMS,
    RunningSystem,
    SystemSpec,
    start_system,
    with_inactivity_0,
)
from bench.workloads import WORKLOADS  # noqa: E402
from tests.support.netns import loopback_only_problem  # noqa: E402

RUN_VIA = "run it as `scripts/bench bench/run.py` (a loopback-only network namespace)"

PLANS = {
    "full": Plan(
        "full", warmup=256, sequential=300, concurrent=2000, rounds=16, reps=2, limit_s=120
    ),
    "quick": Plan("quick", warmup=64, sequential=30, concurrent=200, rounds=3, reps=1, limit_s=30),
    "smoke": Plan("smoke", warmup=4, sequential=5, concurrent=10, rounds=1, reps=1, limit_s=60),
}
SMOKE_SYSTEMS = ["restate", "perdure-dev"]
SMOKE_WORKLOADS = ["w3-100"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer requests, 1 rep (< 5 min)")
    mode.add_argument(
        "--smoke", action="store_true",
        help=f"CI smoke: {' + '.join(SMOKE_SYSTEMS)}, {', '.join(SMOKE_WORKLOADS)}, a few calls",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write every raw number and the machine here")
    parser.add_argument(
        "--systems", nargs="+", choices=sorted(BASE_SYSTEMS), metavar="SYSTEM",
        help=f"base systems (default all: {', '.join(BASE_SYSTEMS)})",
    )  # fmt: skip
    parser.add_argument(
        "--workloads", nargs="+", choices=sorted(WORKLOADS), metavar="WORKLOAD",
        help=f"workloads (default all: {', '.join(WORKLOADS)})",
    )  # fmt: skip
    parser.add_argument(
        "--no-inactivity-0", action="store_true",
        help="skip the inactivity-timeout-0 variants of W1-W3",
    )  # fmt: skip
    parser.add_argument("--reps", type=int, help="repetitions (default: full 2, quick/smoke 1)")
    parser.add_argument(
        "--phase-limit", type=float, metavar="S",
        help="seconds a phase may take before the system counts as stuck (default: plan's)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def chosen(args: argparse.Namespace) -> tuple[Plan, list[SystemSpec], list[str]]:
    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.reps:
        plan = replace(plan, reps=args.reps)
    if args.phase_limit:
        plan = replace(plan, limit_s=args.phase_limit)
    bases = args.systems or (SMOKE_SYSTEMS if args.smoke else list(BASE_SYSTEMS))
    workloads = args.workloads or (SMOKE_WORKLOADS if args.smoke else list(WORKLOADS))
    specs = [BASE_SYSTEMS[b] for b in BASE_SYSTEMS if b in bases]
    inactivity_0 = any(WORKLOADS[w].in_inactivity_0 for w in workloads)
    if inactivity_0 and not args.no_inactivity_0 and not args.smoke:
        specs += [with_inactivity_0(s) for s in specs]
    return plan, specs, [w for w in WORKLOADS if w in workloads]


def run_system(
    spec: SystemSpec, workloads: list[str], plan: Plan, workdir: Path, rep: int
) -> list[dict[str, Any]]:
    """Start `spec` from scratch, measure its workloads in turn, stop it; one result per
    workload. A workload that leaves the system stuck (a phase hit the limit) is reported and
    the system is started afresh for the next one."""
    todo = [w for w in workloads if not spec.inactivity_0 or WORKLOADS[w].in_inactivity_0]
    results: list[dict[str, Any]] = []
    base = {"system": spec.name, "rep": rep}
    starts = 0
    while todo:
        starts += 1
        began = time.monotonic()
        try:
            system = start_system(spec, workdir / f"start{starts}")
        except (Exception, pytest.fail.Exception) as exc:
            error = f"{spec.name} did not start: {exc}"
            print(f"!!! {error}", flush=True)
            return results + [{**base, "workload": w, "record": None, "error": error} for w in todo]
        startup_s = time.monotonic() - began
        try:
            load = LoadGenerator(system.ingress_url)
            try:
                while todo:
                    name = todo.pop(0)
                    print(f"... rep {rep} {spec.name}: {name}", file=sys.stderr, flush=True)
                    result = {**base, "workload": name, **measured(system, name, plan, load)}
                    result["startup_s"] = startup_s
                    results.append(result)
                    report_problems(result)
                    if result["record"] is None or result["record"]["stuck_in"]:
                        break
            finally:
                load.close()
        finally:
            system.stop()
    return results


def measured(system: RunningSystem, name: str, plan: Plan, load: LoadGenerator) -> dict[str, Any]:
    """{"record": the measurement, "error": None}, or what went wrong: a measurement that
    breaks (a server that died, a counter that cannot be read, a stuck phase) is reported, and
    the run goes on with the next workload."""
    began = time.monotonic()
    record: dict[str, Any] | None = None
    error = None
    try:
        record = measure(system, WORKLOADS[name], plan, load)
        record["elapsed_s"] = time.monotonic() - began
        if record["stuck_in"]:
            phase = record["phases"][record["stuck_in"]]
            error = (
                f"stuck: phase {record['stuck_in']} answered {phase['ok']} of "
                f"{phase['requests']} calls within {plan.limit_s:g} s"
            )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    exited = {p.name: p.exit_code() for p in system.processes() if p.exit_code() is not None}
    if exited:
        error = (f"{error}; " if error else "") + f"exited: {exited}"
    return {"record": record, "error": error}


def report_problems(result: dict[str, Any]) -> None:
    where = f"{result['workload']} on {result['system']} (rep {result['rep']})"
    if result["error"]:
        print(f"!!! ERROR {where}: {result['error']}", flush=True)
    record = result["record"]
    if record is None:
        return
    for tag, phase in record["phases"].items():
        if phase["failed"]:
            print(
                f"!!! ERRORS {where}, phase {tag}: {phase['failed']} of {phase['requests']} "
                f"failed {phase['failures']}; e.g. {phase['error_samples'][:2]}",
                flush=True,
            )
    check = record["check"]
    if check is not None and not check["passed"]:
        wrong = dict(list(check["wrong_keys"].items())[:5])
        print(
            f"!!! FAIL exact count: {where}: counters sum to {check['counter_sum']} but "
            f"{check['adds_ok']} adds were answered 200; wrong keys (first 5): {wrong}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan, specs, workloads = chosen(args)
    if any(s.server == "restate" for s in specs):
        problem = loopback_only_problem()
        if problem:
            reason = problem.split(";")[0].removeprefix("refusing to start restate-server: ")
            print(
                f"bench/run.py: refusing to start restate-server: {reason}; {RUN_VIA}",
                file=sys.stderr,
            )
            return 2
    # SIGTERM (a timeout, a CI kill) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="perdure-bench-"))
    machine_before = machine_info(specs)
    began = time.monotonic()
    results: list[dict[str, Any]] = []
    try:
        for rep in range(1, plan.reps + 1):
            for spec in specs:  # interleaved: every system once per repetition, in turn
                target = workdir / f"rep{rep}" / spec.name.replace("/", "-")
                results += run_system(spec, workloads, plan, target, rep)
    finally:
        if args.keep:
            print(f"work dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total_s = time.monotonic() - began
    machine_before["load_average_end"] = os.getloadavg()
    rows = summarise(results)
    if args.json:  # first: the raw numbers survive whatever happens to the printing
        write_json(args.json, machine_before, plan, specs, workloads, rows, results, total_s)
    print_report(machine_before, plan, specs, workloads, rows, results, total_s)
    return 1 if problems_of(results)["any"] else 0


if __name__ == "__main__":
    sys.exit(main())
