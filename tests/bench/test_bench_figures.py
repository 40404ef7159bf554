"""The runner's arithmetic and its loud failure: percentiles, the exact-count check, the FAIL
line. No servers."""

from __future__ import annotations

import pytest

from bench.measure import exact_count_check
from bench.report import percentile
from bench.run import report_problems


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
