"""What a run hands back: the printed report (machine, durability, table, warnings) and the
JSON document with every raw number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.measure import Plan
from bench.report import LEGEND, table
from bench.systems import SystemSpec
from bench.workloads import WORKLOADS

Rows = dict[tuple[str, str], dict[str, Any]]


def problems_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Failed exact-count checks, failed calls, and errors (a system that did not start or
    died, a measurement that broke)."""
    checks = [r["record"]["check"] for r in results if r["record"] and r["record"]["check"]]
    failed_calls = sum(
        p["failed"] for r in results if r["record"] for p in r["record"]["phases"].values()
    )
    errors = [
        {"system": r["system"], "workload": r["workload"], "rep": r["rep"], "error": r["error"]}
        for r in results
        if r["error"]
    ]
    failed_checks = sum(not c["passed"] for c in checks)
    return {
        "checks": len(checks),
        "failed_checks": failed_checks,
        "failed_calls": failed_calls,
        "errors": errors,
        "any": bool(failed_checks or failed_calls or errors),
    }


def print_report(
    machine: dict[str, Any],
    plan: Plan,
    specs: list[SystemSpec],
    workloads: list[str],
    rows: Rows,
    results: list[dict[str, Any]],
    total_s: float,
) -> None:
    dirty = " (uncommitted changes)" if machine["perdure_git_dirty"] else ""
    versions = machine["versions"]
    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores "
        f"({machine['usable_cores']} usable), {machine['kernel']}, python {machine['python']}"
    )
    print(
        f"perdure {machine['perdure_git_sha'][:12]}{dirty} from {machine['perdure_source']}; "
        f"restate-server {versions['restate-server']}, restate-sdk {versions['restate-sdk']}, "
        f"hypercorn {versions['hypercorn']}"
    )
    print(
        f"plan {plan.name}: {plan.reps} repetition(s), warm-up {plan.warmup}, sequential "
        f"{plan.sequential}, concurrent max({plan.concurrent}, {plan.rounds} x level) calls/phase"
    )
    start, end = machine["load_average"], machine.get("load_average_end", ("?",) * 3)
    print(
        f"load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in start)}, at end "
        f"{' '.join(f'{x:.2f}' if isinstance(x, float) else x for x in end)}"
    )
    print("durability:")
    for spec in specs:
        print(f"  {spec.name:<31} {spec.durability}")
    names = [s.name for s in specs]
    print()
    print(table(rows, names, workloads))
    if plan.reps > 1:
        for which in ("min", "max"):
            print(f"\n{which} over {plan.reps} repetitions:")
            print(table(rows, names, workloads, which))
    print()
    print(LEGEND)
    core = [r["client_core_max"]["max"] for r in rows.values()]
    core = [c for c in core if c is not None]
    cpu = sorted(c for r in rows.values() if (c := r["client_cpu"]["median"]) is not None)
    if core and cpu:
        print(
            f"load generator (a process of its own, not counted above): at most {max(core):.0%} of "
            f"one core in any phase, {cpu[0]:.2f}-{cpu[-1]:.2f} ms CPU per call"
        )
    problems = problems_of(results)
    if problems["failed_checks"]:
        print(
            f"!!! EXACT-COUNT CHECK FAILED in {problems['failed_checks']} of "
            f"{problems['checks']} counter runs (see the FAIL lines above)"
        )
    elif problems["checks"]:
        print(f"exact-count checks: all {problems['checks']} passed")
    if problems["failed_calls"]:
        print(f"!!! {problems['failed_calls']} calls failed (see the ERRORS lines above)")
    for error in problems["errors"]:
        print(
            f"!!! ERROR {error['workload']} on {error['system']} (rep {error['rep']}): "
            f"{error['error']}"
        )
    print(f"total {total_s:.0f} s")


def write_json(
    path: Path,
    machine: dict[str, Any],
    plan: Plan,
    specs: list[SystemSpec],
    workloads: list[str],
    rows: Rows,
    results: list[dict[str, Any]],
    total_s: float,
) -> None:
    document = {
        "machine": machine,
        "plan": plan.__dict__,
        "systems": [
            {
                "name": s.name,
                "server": s.server,
                "sdk": s.sdk,
                "inactivity_0": s.inactivity_0,
                "durability": s.durability,
            }
            for s in specs
        ],
        "workloads": [
            {
                "name": w,
                "title": WORKLOADS[w].title,
                "levels": WORKLOADS[w].levels,
                "baseline_ms": WORKLOADS[w].baseline_ms,
            }
            for w in workloads
        ],
        "summary": [{"workload": w, "system": s, **row} for (w, s), row in rows.items()],
        "results": results,
        "problems": problems_of(results),
        "total_s": total_s,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
