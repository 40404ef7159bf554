"""Admin `GET /metrics`: Prometheus text that moves as invocations run (issue 11, item 3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

APP = Path(__file__).parent / "apps" / "metrics_app.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    started = PerdureServer(
        tmp_path_factory.mktemp("metrics"),
        {
            "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s",  # suspend at every await
            "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "20ms",
            "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "50ms",
        },
        app=APP,
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


def scrape(server: PerdureServer) -> dict[str, float]:
    """Every sample as `name{label=value,…}` -> value."""
    answer = httpx.get(f"{server.admin_url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_move_as_invocations_run(server: PerdureServer) -> None:
    before = scrape(server)
    for name in (
        "perdure_attempts_started_total",
        "perdure_attempts_failed_total",
        "perdure_suspensions_total",
        "perdure_commit_seconds_count",
        "perdure_processor_pending",
        "perdure_invoker_queued",
        "perdure_timers_armed",
        "perdure_timers_due",
        "perdure_invocations{status=completed}",
        "perdure_invocations{status=backing-off}",
    ):
        assert name in before, name
    with httpx.Client(base_url=server.ingress_url, timeout=30) as ingress:
        assert ingress.post("/Steps/nap", json="ann").json() == "rested ann"
        ingress.post("/Steps/broken/send", json=None).raise_for_status()

    def moved() -> dict[str, float] | None:
        now = scrape(server)
        failed = now["perdure_attempts_failed_total"] - before["perdure_attempts_failed_total"]
        return now if failed >= 2 else None

    after = eventually_sync(moved, what="two failed attempts of Steps/broken")
    assert (
        after["perdure_invocations{status=completed}"]
        == before["perdure_invocations{status=completed}"] + 1
    )
    # nap: one attempt, a suspension on its sleep, a second attempt; broken: >= 2 attempts.
    started = after["perdure_attempts_started_total"] - before["perdure_attempts_started_total"]
    assert started >= 4
    assert after["perdure_suspensions_total"] - before["perdure_suspensions_total"] >= 1
    assert after["perdure_commit_seconds_count"] > before["perdure_commit_seconds_count"]
    assert after["perdure_commit_seconds_sum"] > 0
    assert (
        after["perdure_invocations{status=backing-off}"]
        + after["perdure_invocations{status=running}"]
        == 1
    )
