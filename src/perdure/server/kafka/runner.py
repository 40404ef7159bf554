"""The server component that runs one consumer per Kafka subscription.

It reads the subscriptions from the store every second (they change through the admin
API), so creating or deleting one takes effect without a restart. Each consumer loop:
poll a batch, hand it to the engine as one `IngestRecords` command, and only once that
committed, commit the offsets to Kafka. A failure (broker down, unknown cluster) is logged
and the loop starts again after a pause; the store's offsets make that safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from perdure.server.engine import IngestRecords, Submit, parse_source
from perdure.server.kafka.clusters import KafkaCluster
from perdure.server.kafka.source import ConfluentSource, RecordSource
from perdure.store.api import Store, SubscriptionRow

logger = logging.getLogger(__name__)

T = TypeVar("T")
RESCAN_S = 1.0
RETRY_S = 2.0
BATCH = 200
POLL_S = 0.5

OpenSource = Callable[[KafkaCluster, str, str, Mapping[str, str], Mapping[int, int]], RecordSource]


class SubscriptionRunner:
    def __init__(
        self,
        store: Store,
        submit: Submit,
        clusters: tuple[KafkaCluster, ...],
        open_source: OpenSource = ConfluentSource,
    ) -> None:
        self._store = store
        self._submit = submit
        self._clusters = {c.name: c for c in clusters}
        self._open = open_source
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                rows = await self._store.read(lambda txn: txn.list_subscriptions())
                wanted = {row.id: row for row in rows}
                for sub_id in list(self._tasks):
                    if sub_id not in wanted:
                        self._tasks.pop(sub_id).cancel()
                for sub_id, row in wanted.items():
                    if sub_id not in self._tasks or self._tasks[sub_id].done():
                        self._tasks[sub_id] = asyncio.create_task(
                            self._consume(row), name=f"subscription {sub_id}"
                        )
                await asyncio.sleep(RESCAN_S)
        finally:
            for task in self._tasks.values():
                task.cancel()
            for task in self._tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _consume(self, row: SubscriptionRow) -> None:
        while True:
            try:
                await self._consume_once(row)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("subscription %s failed; retrying in %gs", row.id, RETRY_S)
            await asyncio.sleep(RETRY_S)

    async def _consume_once(self, row: SubscriptionRow) -> None:
        source = parse_source(row.source)
        cluster = self._clusters.get(source.cluster)
        if cluster is None:
            raise RuntimeError(f"Kafka cluster {source.cluster!r} is not configured")
        stored = await self._store.read(lambda txn: txn.subscription_offsets(row.id))
        start = {p: n for p, (n, _) in stored.items()}
        group = row.options.get("group.id", f"perdure-{row.id}")
        # One thread per consumer: librdkafka calls of one consumer never overlap.
        with ThreadPoolExecutor(1, thread_name_prefix=f"kafka-{row.id}") as thread:
            call = partial(_in, thread)
            consumer = await call(self._open, cluster, source.topic, group, row.options, start)
            try:
                while True:
                    records, marks = await call(consumer.poll, BATCH, POLL_S)
                    if not records:
                        continue
                    command = IngestRecords(row.id, tuple(records), tuple(marks.items()))
                    next_offsets = await self._submit(command)
                    await call(consumer.commit, next_offsets)
            finally:
                await asyncio.shield(call(consumer.close))


async def _in(thread: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(thread, partial(fn, *args))
