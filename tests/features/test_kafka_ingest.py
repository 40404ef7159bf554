"""The engine's side of Kafka subscriptions, without a broker: a batch consumed again (after
a crash) creates nothing twice, the record key is the object key, and the stored offsets
and high watermarks give the lag in `sys_subscription`."""

from __future__ import annotations

import json
from pathlib import Path

import perdure
from perdure.server.config import ServerConfig
from perdure.server.engine import CreateSubscription, IngestRecords, KafkaRecord
from perdure.server.kafka.clusters import KafkaCluster, clusters_from_env
from tests.features.harness import embedded_server
from tests.support.polling import eventually


def app(seen: list[tuple[str, str]]) -> perdure.sdk.endpoint.Endpoint:
    obj = perdure.VirtualObject("Sink")

    @obj.handler()
    async def take(ctx: perdure.ObjectContext, value: str) -> None:
        seen.append((ctx.key(), value))

    return perdure.app([obj])


def record(partition: int, offset: int, key: str) -> KafkaRecord:
    return KafkaRecord(partition, offset, key.encode(), json.dumps(f"{key}@{offset}").encode())


async def test_a_batch_consumed_again_invokes_nothing_twice(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    async with embedded_server(app(seen), tmp_path / "data") as server:
        submit = server.components.processor.submit
        await submit(CreateSubscription("sub_1test", "kafka://c/t", "service://Sink/take"))
        batch = (record(0, 0, "a"), record(0, 1, "b"), record(1, 0, "a"))
        first = await submit(IngestRecords("sub_1test", batch, ((0, 5), (1, 1))))
        assert first == {0: 2, 1: 1}
        again = await submit(IngestRecords("sub_1test", (*batch, record(0, 2, "a")), ()))
        assert again == {0: 3, 1: 1}
        await eventually(lambda: len(seen) == 4, what="four runs")
        assert sorted(seen) == [("a", "a@0"), ("a", "a@0"), ("a", "a@2"), ("b", "b@1")]
        rows = (
            await server.admin.post(
                "/query",
                json={
                    "query": "SELECT partition, committed_offset, lag FROM sys_subscription "
                    "ORDER BY partition"
                },
            )
        ).json()["rows"]
        assert rows == [
            {"partition": 0, "committed_offset": 3, "lag": 2},
            {"partition": 1, "committed_offset": 1, "lag": 0},
        ]
        metrics = (await server.admin.get("/metrics")).text
        assert 'perdure_subscription_lag{partition="0",subscription="sub_1test"} 2.0' in metrics
        assert 'perdure_subscription_lag{partition="1",subscription="sub_1test"} 0.0' in metrics


async def test_the_subscriptions_admin_api(tmp_path: Path) -> None:
    cluster = KafkaCluster("local", ("PLAINTEXT://127.0.0.1:9",))  # never reached here
    async with embedded_server(app([]), tmp_path / "data", kafka_clusters=(cluster,)) as server:
        admin = server.admin
        body = {"source": "kafka://local/t", "sink": "service://Sink/take", "options": {"a": 1}}
        created = await admin.post("/subscriptions", json=body)
        assert created.status_code == 201, created.text
        sub = created.json()
        assert sub["options"] == {"a": "1"} and sub["id"].startswith("sub_1")
        assert (await admin.get(f"/subscriptions/{sub['id']}")).json() == sub
        listed = await admin.get("/subscriptions", params={"sink": "service://Sink/take"})
        assert listed.json() == {"subscriptions": [sub]}
        other = await admin.get("/subscriptions", params={"sink": "service://Other/x"})
        assert other.json() == {"subscriptions": []}
        unknown = await admin.post("/subscriptions", json={**body, "source": "kafka://nope/t"})
        assert unknown.status_code == 400 and "not configured" in unknown.json()["message"]
        bad = await admin.post("/subscriptions", json={**body, "sink": "Sink/take"})
        assert bad.status_code == 400
        missing = await admin.post("/subscriptions", json={**body, "sink": "service://No/h"})
        assert missing.status_code == 404
        assert (await admin.delete(f"/subscriptions/{sub['id']}")).status_code == 202
        assert (await admin.get(f"/subscriptions/{sub['id']}")).status_code == 404


def test_kafka_clusters_are_read_as_restate_server_reads_them(tmp_path: Path) -> None:
    inline = '[{name="a",brokers=["PLAINTEXT://h:1","h:2"],"client.id"="x"}]'
    [cluster] = clusters_from_env({"RESTATE_INGRESS__KAFKA_CLUSTERS": inline})
    assert cluster.consumer_config() == {
        "bootstrap.servers": "h:1,h:2",
        "security.protocol": "PLAINTEXT",
        "client.id": "x",
    }
    config = tmp_path / "restate.toml"
    config.write_text('[[ingress.kafka-clusters]]\nname = "b"\nbrokers = ["SSL://k:9093"]\n')
    [from_file] = clusters_from_env({"RESTATE_CONFIG": str(config)})
    assert from_file.name == "b" and from_file.consumer_config()["security.protocol"] == "SSL"
    assert ServerConfig.build({"RESTATE_INGRESS__KAFKA_CLUSTERS": inline}).kafka_clusters == (
        cluster,
    )
