"""The commands of Kafka subscriptions (`engine/subscriptions.py` applies them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perdure.server.engine.commands import Command
from perdure.store.api import SubscriptionRow


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One consumed record: where it is in its topic, and what it carries."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CreateSubscription(Command[SubscriptionRow]):
    """A new subscription (its id chosen by the caller); refused if its sink is unknown."""

    subscription_id: str
    source: str
    sink: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteSubscription(Command[bool]):
    subscription_id: str


@dataclass(frozen=True, slots=True)
class IngestRecords(Command[dict[int, int]]):
    """Records of one subscription, in consumption order, with the partitions' high
    watermarks. Replies, per partition, the next offset to consume: what may be committed
    to Kafka now that the records' invocations are stored."""

    subscription_id: str
    records: tuple[KafkaRecord, ...]
    high_watermarks: tuple[tuple[int, int], ...] = ()
