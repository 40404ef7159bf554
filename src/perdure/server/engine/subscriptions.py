"""Kafka subscriptions: every record invokes the subscription's sink handler exactly once.

A batch of consumed records is one command (`IngestRecords`): each record's invocation is
created with an id derived from (subscription, partition, offset) through an idempotency
key, and the partition's next offset is stored, in the same transaction. A record before
the stored offset, or one whose invocation exists, is skipped, so a batch consumed again
after a crash (the consumer seeks to the stored offsets; Kafka's own commit comes only
after this transaction) creates nothing twice. For a virtual object the record's key is
the object key: records of one key (one partition) become invocations in their order,
and the key's inbox keeps that order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from perdure.server.engine.errors import InvalidRequest, NotFound
from perdure.server.engine.ids import choose_invocation_id
from perdure.server.engine.invocations import create_invocation
from perdure.server.engine.services import Target
from perdure.server.engine.subscription_commands import (
    CreateSubscription,
    DeleteSubscription,
    IngestRecords,
    KafkaRecord,
)
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import SubscriptionRow

logger = logging.getLogger(__name__)

SUBSCRIPTION_HEADER = "x-perdure-subscription"


@dataclass(frozen=True, slots=True)
class Source:
    cluster: str
    topic: str


def parse_source(source: str) -> Source:
    cluster, sep, topic = source.removeprefix("kafka://").partition("/")
    if not source.startswith("kafka://") or not sep or not cluster or not topic or "/" in topic:
        raise InvalidRequest(f"bad source {source!r}: use kafka://CLUSTER/TOPIC")
    return Source(cluster, topic)


def parse_sink(sink: str) -> tuple[str, str]:
    service, sep, handler = sink.removeprefix("service://").partition("/")
    if not sink.startswith("service://") or not sep or not service or not handler:
        raise InvalidRequest(f"bad sink {sink!r}: use service://SERVICE/HANDLER")
    return service, handler


def create(tx: EngineTxn, cmd: CreateSubscription) -> SubscriptionRow:
    parse_source(cmd.source)
    service, handler = parse_sink(cmd.sink)
    target = tx.resolve_target(service, handler)
    if target.workflow_run:
        raise InvalidRequest("a subscription cannot invoke a workflow's run handler")
    row = SubscriptionRow(cmd.subscription_id, cmd.source, cmd.sink, dict(cmd.options), tx.now)
    tx.store.put_subscription(row)
    return row


def delete(tx: EngineTxn, cmd: DeleteSubscription) -> bool:
    if tx.store.get_subscription(cmd.subscription_id) is None:
        return False
    tx.store.delete_subscription(cmd.subscription_id)
    return True


def ingest(tx: EngineTxn, cmd: IngestRecords) -> dict[int, int]:
    row = tx.store.get_subscription(cmd.subscription_id)
    if row is None:
        raise NotFound(f"subscription {cmd.subscription_id} not found")
    service, handler = parse_sink(row.sink)
    target = tx.resolve_target(service, handler)
    stored = tx.store.subscription_offsets(row.id)
    next_offsets = {p: n for p, (n, _) in stored.items()}
    marks = {p: h for p, (_, h) in stored.items()}
    marks.update(dict(cmd.high_watermarks))
    for record in cmd.records:
        if record.offset < next_offsets.get(record.partition, 0):
            continue  # ingested before (a batch consumed again)
        _invoke(tx, row, target, record)
        next_offsets[record.partition] = record.offset + 1
    for partition in set(next_offsets) | set(marks):
        nxt = next_offsets.get(partition, 0)
        mark = max(marks.get(partition, nxt), nxt)
        if stored.get(partition) != (nxt, mark):
            tx.store.put_subscription_offset(row.id, partition, nxt, mark)
    return next_offsets


def _invoke(tx: EngineTxn, row: SubscriptionRow, target: Target, record: KafkaRecord) -> None:
    key = None
    if target.keyed:
        key = (record.key or b"").decode("utf-8", "replace")
    idempotency_key = f"kafka/{row.id}/{record.partition}/{record.offset}"
    invocation_id = choose_invocation_id(target, key, idempotency_key)
    if tx.get(invocation_id) is not None:
        return
    headers = (*record.headers, (SUBSCRIPTION_HEADER, row.id))
    create_invocation(
        tx, invocation_id, target, key, headers, record.value, idempotency_key=idempotency_key
    )
