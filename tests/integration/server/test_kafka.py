"""Kafka subscriptions on `perdure server` against a Kafka-protocol broker on loopback
(tests/support/kafka_broker.py: librdkafka's mock cluster, from the confluent-kafka wheel).

Acceptance: 1,000 records on 3 partitions invoke a virtual object keyed by the record key:
every record exactly once, in order per key, also across a kill -9 of the server in the
middle of the stream (half the records are produced while it is down)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import HERE, PerdureServer, ServeApp, wait_until
from tests.support.kafka_broker import KafkaBroker

RECORDS = 1_000
KEYS = 20


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    started = KafkaBroker(tmp_path, {"orders": 3})
    started.start()
    try:
        yield started
    finally:
        started.stop()


def produce(broker: KafkaBroker, numbers: range) -> dict[str, list[str]]:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    sent: dict[str, list[str]] = defaultdict(list)
    for n in numbers:
        key = f"k{n % KEYS}"
        value = f"{key}:{n}"
        producer.produce("orders", key=key, value=json.dumps(value))
        sent[key].append(value)
    assert producer.flush(30) == 0
    return sent


def query(admin: httpx.Client, sql: str) -> list[dict[str, object]]:
    answer = admin.post("/query", json={"query": sql}, headers={"accept": "application/json"})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()["rows"]
    return rows


def count(admin: httpx.Client, status: str | None = None) -> int:
    where = "target_service_name = 'Orders'" + (f" AND status = '{status}'" if status else "")
    return int(query(admin, f"SELECT COUNT(*) AS n FROM sys_invocation WHERE {where}")[0]["n"])


@pytest.mark.timeout(300)
def test_every_record_invokes_once_in_key_order_across_a_kill9(
    broker: KafkaBroker,
    tmp_path: Path,
    serve_app: ServeApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clusters = f'[{{name="local",brokers=["PLAINTEXT://{broker.bootstrap}"]}}]'
    monkeypatch.setenv("RESTATE_INGRESS__KAFKA_CLUSTERS", clusters)
    server = PerdureServer(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
        url = serve_app("kafka_services:app", {"PYTHONPATH": path})
        assert server.register(url).status_code == 201
        admin = httpx.Client(base_url=server.admin, timeout=30)
        body = {
            "source": "kafka://local/orders",
            "sink": "service://Orders/add",
            "options": {"auto.offset.reset": "earliest"},
        }
        created = admin.post("/subscriptions", json=body)
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        assert sub_id.startswith("sub_1")
        assert admin.get("/subscriptions").json()["subscriptions"][0]["sink"] == body["sink"]

        sent = produce(broker, range(RECORDS // 2))
        wait_until(lambda: count(admin) >= RECORDS // 10, 60, "some records to be ingested")
        server.kill9()  # mid-stream: records are being ingested and invocations running
        later = produce(broker, range(RECORDS // 2, RECORDS))
        server.start()
        admin.close()
        admin = httpx.Client(base_url=server.admin, timeout=30)

        wait_until(lambda: count(admin, "completed") == RECORDS, 180, "every record's run")
        assert count(admin) == RECORDS  # none doubled
        with httpx.Client(base_url=server.ingress, timeout=30) as ingress:
            for key in sorted(set(sent) | set(later)):
                expected = sent.get(key, []) + later.get(key, [])
                assert ingress.get(f"/Orders/{key}/seen").json() == expected, key
        lag = query(
            admin,
            f"SELECT partition, committed_offset, high_watermark, lag FROM sys_subscription "
            f"WHERE id = '{sub_id}' ORDER BY partition",
        )
        assert [r["partition"] for r in lag] == [0, 1, 2]
        assert sum(int(str(r["committed_offset"])) for r in lag) == RECORDS
        assert all(r["lag"] == 0 for r in lag)
        assert admin.delete(f"/subscriptions/{sub_id}").status_code == 202
        admin.close()
    finally:
        server.stop()
