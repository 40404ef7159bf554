"""The benchmark runner end to end, in its smallest mode: restate-server (+ official SDK under
hypercorn) and `perdure dev`, the 100-key counter, a handful of calls per phase. Checks that the
JSON carries every figure the table is made of and that the exact-count check ran and passed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.restate_server import require_server_binary

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
FIGURES = [
    "seq_p50", "seq_p90", "seq_p99", "lo_rps", "lo_p50", "lo_p99", "hi_rps", "hi_p50",
    "hi_p99", "cpu_server", "cpu_total", "rss_server",
]  # fmt: skip


@pytest.mark.timeout(240)
def test_smoke_run_reports_every_figure_and_an_exact_count(tmp_path: Path) -> None:
    require_server_binary()
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exact-count checks: all 2 passed" in done.stdout, done.stdout
    assert "synchronous=FULL" in done.stdout

    document = json.loads(out.read_text())
    machine = document["machine"]
    for field in ("cpu_model", "cores", "python", "perdure_git_sha", "durability", "versions"):
        assert machine[field], field
    assert machine["durability"]["perdure-dev"].startswith("SQLite synchronous=FULL")
    assert document["problems"] == {
        "checks": 2, "failed_checks": 0, "failed_calls": 0, "errors": [], "any": False,
    }  # fmt: skip

    rows = {(row["workload"], row["system"]): row for row in document["summary"]}
    assert set(rows) == {("w3-100", "restate"), ("w3-100", "perdure-dev")}
    for (_, system), row in rows.items():
        for figure in FIGURES:
            assert row[figure]["median"] > 0, (system, figure)
        [check] = row["checks"]
        assert check["passed"], check
        assert check["counter_sum"] == check["adds_ok"] > 0
    assert rows[("w3-100", "restate")]["cpu_endpoint"]["median"] > 0
    assert rows[("w3-100", "perdure-dev")]["cpu_endpoint"]["median"] is None  # one process
    assert rows[("w3-100", "restate")]["ratio"]["hi_rps"] == 1.0
    assert rows[("w3-100", "perdure-dev")]["ratio"]["hi_rps"] > 0

    [restate] = [r for r in document["results"] if r["system"] == "restate"]
    phases = restate["record"]["phases"]
    assert set(phases) == {"warmup", "seq", "lo", "hi"}
    assert [phases[p]["concurrency"] for p in ("seq", "lo", "hi")] == [1, 32, 128]
    # Every answered call's latency is kept, and the client's CPU is measured apart.
    assert len(phases["hi"]["latencies_ms"]) == phases["hi"]["ok"] == phases["hi"]["requests"]
    assert phases["hi"]["client_cpu_s"] > 0
