"""Feeds the inboxes of the partitions this node leases to their workers.

Woken by NOTIFY for a partition (a message was committed for it), and polling every
partition held once a second besides (a NOTIFY sent while the listening connection was
down is lost). Each message becomes an `ApplyMessage` command of its partition; the
command deletes the row as it applies it, so a message read twice is applied once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from perdure.server.cluster.partition import PartitionWorker
from perdure.store.api import StoreError
from perdure.store.postgres.coordination import Coordination

logger = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 500


class InboxPump:
    def __init__(self, db: Coordination, workers: Mapping[int, PartitionWorker]) -> None:
        self._db = db
        self._workers = workers
        self._due: set[int] = set()
        self._wake = asyncio.Event()

    def wake(self, partition: int) -> None:
        if partition in self._workers:
            self._due.add(partition)
            self._wake.set()

    def wake_all(self) -> None:
        self._due.update(self._workers)
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(POLL_S):
                    await self._wake.wait()
            except TimeoutError:
                self._due.update(self._workers)
            self._wake.clear()
            due = {p for p in self._due if p in self._workers}
            self._due.clear()
            if not due:
                continue
            try:
                messages = await self._db.read_messages(due, BATCH)
            except StoreError as exc:
                logger.debug("reading inboxes failed: %s", exc)
                self._due.update(due)
                await asyncio.sleep(POLL_S)
                continue
            new = 0
            for message_id, partition, body in messages:
                worker = self._workers.get(partition)
                if worker is not None and worker.apply_message(message_id, body):
                    new += 1
            if len(messages) == BATCH and new:
                self._due.update(due)  # more are waiting behind these
                self._wake.set()
