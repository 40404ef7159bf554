"""`perdure schedules …`, `perdure limits …` and `perdure subscriptions …` against
`perdure dev` hosting an app with a code schedule and a concurrency limit (and, for
subscriptions, a Kafka-protocol broker on loopback)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from perdure.cli.main import cli
from tests.support.kafka_broker import KafkaBroker
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

APP = Path(__file__).parent / "apps" / "scheduled.py"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[PerdureServer]:
    server = PerdureServer(
        tmp_path, {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}, app=APP, data_dir=tmp_path / "d"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(dev: PerdureServer, *args: str, group: str = "schedules") -> str:
    result = CliRunner().invoke(cli, [group, *args, "--admin-url", dev.admin_url])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_lists_creates_and_controls_schedules(dev: PerdureServer) -> None:
    listed = json.loads(run(dev, "list", "--json"))
    assert [(s["name"], s["source"], s["cron"]) for s in listed] == [
        ("often", "code", "*/2 * * * * *")
    ]
    eventually_sync(
        lambda: json.loads(run(dev, "describe", "often", "--json"))["fired"] >= 2,
        what="the code schedule to tick twice",
    )
    out = run(dev, "create", "weekly", "0 9 * * MON", "Reports/build", "--arg", '"w"',
              "--timezone", "Europe/Berlin", "--catch-up", "latest")  # fmt: skip
    assert out.startswith("Created schedule weekly; next tick ")
    table = run(dev, "list")
    assert "weekly" in table and "Europe/Berlin" in table and "often" in table
    assert "Paused schedule weekly." in run(dev, "pause", "weekly")
    assert json.loads(run(dev, "describe", "weekly", "--json"))["paused"] is True
    assert "Resumed schedule weekly" in run(dev, "resume", "weekly")
    started = json.loads(run(dev, "trigger", "weekly", "--json"))["invocation_id"]
    assert started.startswith("inv_")
    filled = run(dev, "backfill", "weekly", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z")
    assert filled.strip() == "Started 4 invocation(s)."  # the Mondays of January 2026
    assert "Deleted schedule weekly." in run(dev, "delete", "weekly")
    failed = CliRunner().invoke(
        cli, ["schedules", "describe", "weekly", "--admin-url", dev.admin_url]
    )
    assert failed.exit_code == 1 and "not found" in failed.output


def test_the_cli_lists_limits_with_running_and_queued(dev: PerdureServer) -> None:
    ingress = httpx.Client(base_url=dev.ingress_url, timeout=10)
    for _ in range(3):
        assert ingress.post("/Reports/slow/send", json=30).status_code == 202

    def usage() -> list[dict[str, object]] | None:
        rules = {r["id"]: r for r in json.loads(limits(dev, "list", "--json"))}
        groups = rules["code:Reports/slow"]["groups"]
        return groups if groups and groups[0]["queued"] == 2 else None

    groups = eventually_sync(usage, what="two invocations queued behind the limit")
    assert groups == [{"group": "", "running": 1, "queued": 2}]
    table = limits(dev, "list")
    assert "code:Reports/slow" in table and "Reports/slow" in table
    out = limits(dev, "set", "reports", "Reports", "--rate", "5/1s", "--burst", "2")
    assert out.strip() == "Set limit reports (version 1)."
    assert "5/1000ms burst 2" in limits(dev, "list")
    assert "Deleted limit reports." in limits(dev, "delete", "reports")
    ingress.close()


def limits(dev: PerdureServer, *args: str) -> str:
    return run(dev, *args, group="limits")


def test_the_cli_creates_lists_and_deletes_subscriptions(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    broker = KafkaBroker(tmp_path, {"names": 1})
    broker.start()
    clusters = f'[{{name="local",brokers=["{broker.bootstrap}"]}}]'
    env = {
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "RESTATE_INGRESS__KAFKA_CLUSTERS": clusters,
    }
    server = PerdureServer(tmp_path / "dev", env, app=APP, data_dir=tmp_path / "dev" / "d")
    server.start()
    try:
        out = run(server, "create", "kafka://local/names", "service://Reports/build",
                  "--option", "auto.offset.reset=earliest", group="subscriptions")  # fmt: skip
        assert out.startswith("Created subscription sub_1")
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for name in ("ann", "bob", "cy"):
            producer.produce("names", value=json.dumps(name))
        assert producer.flush(10) == 0

        def caught_up() -> list[dict[str, object]] | None:
            rows = json.loads(run(server, "list", "--json", group="subscriptions"))
            return rows if rows and rows[0].get("committed_offset") == 3 else None

        [row] = eventually_sync(caught_up, what="the three records to be ingested")
        assert row["lag"] == 0 and row["partition"] == 0
        assert "kafka://local/names" in run(server, "list", group="subscriptions")
        sub_id = str(row["id"])
        assert f"Deleted subscription {sub_id}." in run(
            server, "delete", sub_id, group="subscriptions"
        )
        assert "No subscriptions." in run(server, "list", group="subscriptions")
    finally:
        server.stop()
        broker.stop()
