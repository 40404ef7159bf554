"""Where records come from: `RecordSource`, and its Kafka implementation on confluent-kafka
(librdkafka). Calls block; the runner makes them on one thread per source."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from perdure.server.engine import KafkaRecord
from perdure.server.kafka.clusters import KafkaCluster

logger = logging.getLogger(__name__)


class RecordSource(Protocol):
    def poll(self, max_records: int, timeout_s: float) -> tuple[list[KafkaRecord], dict[int, int]]:
        """Up to `max_records` records, in order per partition, and the high watermarks
        of the partitions they came from."""
        ...

    def commit(self, next_offsets: Mapping[int, int]) -> None:
        """The records before these offsets are durably ingested."""
        ...

    def close(self) -> None: ...


class ConfluentSource:
    """A consumer-group member of `topic`. It never commits on its own (offsets go to
    Kafka only through `commit`) and starts each assigned partition at the offset the
    store says is next, so a record is consumed again only if it was not ingested."""

    def __init__(
        self,
        cluster: KafkaCluster,
        topic: str,
        group_id: str,
        options: Mapping[str, str],
        start_offsets: Mapping[int, int],
    ) -> None:
        try:
            from confluent_kafka import Consumer
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "Kafka subscriptions need confluent-kafka: pip install 'perdure[kafka]'"
            ) from None
        self._topic = topic
        self._start = dict(start_offsets)
        config: dict[str, Any] = {"group.id": group_id, **cluster.consumer_config()}
        config.update({k: v for k, v in options.items() if not k.startswith("perdure.")})
        config.update({"enable.auto.commit": False, "enable.auto.offset.store": False})
        self._consumer = Consumer(config)
        self._consumer.subscribe([topic], on_assign=self._on_assign)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            if tp.partition in self._start:
                tp.offset = self._start[tp.partition]
        consumer.assign(partitions)

    def poll(self, max_records: int, timeout_s: float) -> tuple[list[KafkaRecord], dict[int, int]]:
        from confluent_kafka import TopicPartition

        records: list[KafkaRecord] = []
        for message in self._consumer.consume(num_messages=max_records, timeout=timeout_s):
            if message.error() is not None:
                logger.warning("kafka topic %s: %s", self._topic, message.error())
                continue
            raw_headers: Any = message.headers() or []
            headers = tuple((str(name), _text(value)) for name, value in raw_headers)
            key: Any = message.key()
            value: Any = message.value()
            records.append(
                KafkaRecord(
                    int(message.partition() or 0),
                    int(message.offset() or 0),
                    None if key is None else bytes(key),
                    b"" if value is None else bytes(value),
                    headers,
                )
            )
        marks: dict[int, int] = {}
        for partition in {r.partition for r in records}:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), cached=True
            )
            marks[partition] = max(high, 0)
        return records, marks

    def commit(self, next_offsets: Mapping[int, int]) -> None:
        from confluent_kafka import TopicPartition

        self._start.update(next_offsets)
        offsets = [TopicPartition(self._topic, p, o) for p, o in next_offsets.items()]
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
