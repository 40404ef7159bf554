"""The runner's arithmetic and its loud failure: percentiles, the exact-count check, the FAIL
line. No servers."""

from __future__ import annotations

from typing import Any

import pytest

from bench.machine import machine_info
from bench.measure import exact_count_check, phase_tag
from bench.output import print_report
from bench.report import figures, percentile, summarise
from bench.run import PLANS, report_problems
from bench.systems import BASE_SYSTEMS, with_inactivity_0
from bench.workloads import WORKLOADS


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 50) is None


def test_exact_count_check_passes_only_when_every_counter_matches() -> None:
    assert exact_count_check({"a": 3, "b": 2}, {"a": 3, "b": 2})["passed"]
    lost = exact_count_check({"a": 3, "b": 2}, {"a": 3, "b": 1})
    assert not lost["passed"]
    assert lost["wrong_keys"] == {"b": {"adds_ok": 2, "counter": 1}}
    assert (lost["adds_ok"], lost["counter_sum"]) == (5, 4)
    unreadable = exact_count_check({"a": 1}, {"a": "HTTP 500 boom"})
    assert not unreadable["passed"]


def test_a_failed_count_is_printed_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    check = exact_count_check({"k0": 5}, {"k0": 4})
    phase = {"failed": 0, "requests": 5, "failures": {}, "error_samples": []}
    result = {
        "workload": "w3-1",
        "system": "perdure-dev",
        "rep": 1,
        "error": None,
        "record": {"phases": {"seq": phase}, "check": check},
    }
    report_problems(result)
    out = capsys.readouterr().out
    assert "!!! FAIL exact count: w3-1 on perdure-dev (rep 1)" in out
    assert "counters sum to 4 but 5 adds were answered 200" in out


def test_phases_that_never_ran_give_no_figures() -> None:
    """A phase that got stuck ends the workload: the later phases have no figures."""
    phase = {
        "latencies_ms": [10.0, 20.0],
        "ok": 2,
        "failed": 0,
        "wall_s": 0.5,
        "client_cpu_s": 0.01,
        "cpu_s": {"server": 0.02},
    }
    stuck = {**phase, "latencies_ms": [], "ok": 0, "failed": 32}
    record = {"phases": {"seq": phase, "lo": stuck}, "peak_rss_mb": {"server": 60.0}}
    out = figures(record, baseline_ms=0.0)
    assert out["seq_p50"] == pytest.approx(15.0)
    assert out["lo_rps"] == 0.0 and out["lo_p50"] is None
    assert out["hi_rps"] is None and out["hi_p99"] is None
    assert out["cpu_server"] == pytest.approx(20.0)  # 2 x 20 ms over the 2 answered calls
    assert out["cpu_endpoint"] is None and out["failed"] == 32


def test_phase_tags_make_valid_workflow_keys() -> None:
    """`…/inact0` system names must not split the ingress path of a workflow key."""
    for spec in BASE_SYSTEMS.values():
        for named in (spec, with_inactivity_0(spec)):
            path, _ = WORKLOADS["w2"].request(phase_tag(named.name, "hi"), 7)
            assert path.count("/") == 3, path
            assert path.startswith("/SignUp/") and path.endswith("-7/run")


def _phase(ok: int, failed: int) -> dict[str, Any]:
    return {
        "latencies_ms": [5.0] * ok,
        "ok": ok,
        "failed": failed,
        "failures": {"HTTP 400": failed} if failed else {},
        "error_samples": [],
        "wall_s": 0.5,
        "client_cpu_s": 0.01,
        "cpu_s": {"server": 0.02},
        "requests": ok + failed,
    }


def test_the_report_prints_rows_where_every_call_failed(capsys: pytest.CaptureFixture[str]) -> None:
    def result(system: str, ok: int, failed: int) -> dict[str, Any]:
        phases = {tag: _phase(ok, failed) for tag in ("warmup", "seq", "lo", "hi")}
        record = {"phases": phases, "peak_rss_mb": {"server": 60.0}, "check": None}
        return {"system": system, "workload": "w1", "rep": 1, "error": None, "record": record}

    results = [result("restate", 4, 0), result("perdure-dev", 0, 4)]
    specs = [BASE_SYSTEMS["restate"], BASE_SYSTEMS["perdure-dev"]]
    plan = PLANS["smoke"]
    print_report(machine_info(specs), plan, specs, ["w1"], summarise(results), results, 1.0)
    out = capsys.readouterr().out
    assert "ERRORS 16" in out
    assert "!!! 16 calls failed" in out
