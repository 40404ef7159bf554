"""From raw measurements to figures: percentiles per repetition, medians and min-max over
repetitions, ratios to restate-server in the same run, and the printed table."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.systems import INACTIVITY_0
from bench.workloads import WORKLOADS

MEASURED = ("seq", "lo", "hi")


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _minus(value: float | None, baseline: float) -> float | None:
    return None if value is None else value - baseline


def figures(record: dict[str, Any], baseline_ms: float) -> dict[str, float | None]:
    """One repetition's figures. Latencies in ms minus the workload's baseline (W5's sleep);
    CPU in ms per answered call over the measured phases; RSS in MB. A phase that never ran
    (an earlier one got stuck) gives None."""
    phases = record["phases"]
    measured = [phases[t] for t in MEASURED if t in phases]
    empty: dict[str, Any] = {"latencies_ms": [], "ok": 0, "wall_s": 0.0}
    out: dict[str, float | None] = {}
    for q in (50, 90, 99):
        seq = phases.get("seq", empty)["latencies_ms"]
        out[f"seq_p{q}"] = _minus(percentile(seq, q), baseline_ms)
    for tag in ("lo", "hi"):
        phase = phases.get(tag, empty)
        out[f"{tag}_rps"] = phase["ok"] / phase["wall_s"] if phase["wall_s"] > 0 else None
        for q in (50, 99):
            out[f"{tag}_p{q}"] = _minus(percentile(phase["latencies_ms"], q), baseline_ms)
    calls = sum(p["ok"] for p in measured)
    total_cpu = 0.0
    for role in ("server", "endpoint"):
        if role in record["peak_rss_mb"]:
            cpu = sum(p["cpu_s"][role] for p in measured)
            total_cpu += cpu
            out[f"cpu_{role}"] = cpu * 1000.0 / calls if calls else None
            out[f"rss_{role}"] = record["peak_rss_mb"][role]
        else:
            out[f"cpu_{role}"] = out[f"rss_{role}"] = None
    out["cpu_total"] = total_cpu * 1000.0 / calls if calls else None
    client = sum(p["client_cpu_s"] for p in measured)
    out["client_cpu"] = client * 1000.0 / calls if calls else None
    shares = [p["client_cpu_s"] / p["wall_s"] for p in measured if p["wall_s"] > 0]
    out["client_core_max"] = max(shares) if shares else None
    out["failed"] = float(sum(p["failed"] for p in phases.values()))
    return out


def spread(values: list[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(present), "min": min(present), "max": max(present)}


def summarise(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(workload, system) -> {figure: {median, min, max}, "ratio": {...}, "reps": n, ...}."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        if result.get("record") is None:
            continue
        grouped.setdefault((result["workload"], result["system"]), []).append(result)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for key, reps in grouped.items():
        per_rep = [figures(r["record"], WORKLOADS[key[0]].baseline_ms) for r in reps]
        row: dict[str, Any] = {name: spread([f[name] for f in per_rep]) for name in per_rep[0]}
        row["reps"] = len(reps)
        row["checks"] = [r["record"]["check"] for r in reps if r["record"]["check"] is not None]
        rows[key] = row
    for (workload, system), row in rows.items():
        reference = rows.get((workload, _restate_of(system)))
        row["ratio"] = {
            name: _ratio(row[name]["median"], reference[name]["median"]) if reference else None
            for name in row
            if isinstance(row[name], dict) and "median" in row[name]
        }
    return rows


def _restate_of(system: str) -> str:
    return "restate" + (INACTIVITY_0 if system.endswith(INACTIVITY_0) else "")


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


COLUMNS = [
    # (header, figure, format); latencies ms, throughput calls/s, cpu ms/call, rss MB
    ("p50", "seq_p50", "{:.1f}"),
    ("p90", "seq_p90", "{:.1f}"),
    ("p99", "seq_p99", "{:.1f}"),
    ("lo/s", "lo_rps", "{:.0f}"),
    ("lo50", "lo_p50", "{:.0f}"),
    ("lo99", "lo_p99", "{:.0f}"),
    ("hi/s", "hi_rps", "{:.0f}"),
    ("hi50", "hi_p50", "{:.0f}"),
    ("hi99", "hi_p99", "{:.0f}"),
    ("cpuS", "cpu_server", "{:.2f}"),
    ("cpuE", "cpu_endpoint", "{:.2f}"),
    ("rssS", "rss_server", "{:.0f}"),
    ("rssE", "rss_endpoint", "{:.0f}"),
]
RATIOS = [("xp50", "seq_p50"), ("xlo/s", "lo_rps"), ("xhi/s", "hi_rps"), ("xcpu", "cpu_total")]
LEGEND = """\
columns (medians over repetitions): p50/p90/p99 = sequential latency ms (one call at a time);
lo/s, hi/s = calls/s with lo=32 / hi=128 calls in flight (W3 1 key: 32 / 64), lo50/lo99/hi50/
hi99 = their latency p50/p99 ms; W5 latencies are the overshoot (measured - 100 ms).
cpuS/cpuE = CPU ms per answered call of the server / endpoint process(es) over the three
measured phases (W4: one call = 11 invocations; perdure-dev: server and endpoint are one
process); rssS/rssE = peak RSS MB (VmHWM, reset before each workload).
xp50, xlo/s, xhi/s, xcpu = ratio to restate-server in the same run (same inactivity setting);
latency and cpu: below 1 = faster/cheaper than restate; calls/s: above 1 = faster."""


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def table(
    rows: dict[tuple[str, str], dict[str, Any]],
    systems: list[str],
    workloads: list[str],
    which: str = "median",
) -> str:
    """One row per (workload, system); `which`: median, min or max of each figure."""
    width = max([len(s) for s in systems] + [10]) + 2
    header = f"{'system':<{width}}" + "".join(f"{h:>7}" for h, _, _ in COLUMNS)
    if which == "median":
        header += " |" + "".join(f"{h:>6}" for h, _ in RATIOS)
    lines = [header, "-" * len(header)]
    for workload in workloads:
        present = [s for s in systems if (workload, s) in rows]
        if not present:
            continue
        lines.append(WORKLOADS[workload].title)
        for system in present:
            row = rows[(workload, system)]
            line = f"  {system:<{width - 2}}" + "".join(
                f"{_cell(row[f][which], fmt):>7}" for _, f, fmt in COLUMNS
            )
            if which == "median":
                line += " |" + "".join(f"{_cell(row['ratio'][f], '{:.2f}'):>6}" for _, f in RATIOS)
            marks = []
            if row["failed"]["max"]:
                marks.append(f"ERRORS {row['failed']['max']:.0f}")
            if any(not c["passed"] for c in row["checks"]):
                marks.append("COUNT FAIL")
            if marks:
                line += "  " + " ".join(marks)
            lines.append(line)
    return "\n".join(lines)
