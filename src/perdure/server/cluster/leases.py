"""The node's partition leases: heartbeat, renew, take a fair share, hand back the rest.

Every round (a quarter of the lease TTL, or at once when another node hands partitions
back) the keeper records the node's heartbeat, renews the leases it holds, and moves
towards its fair share: with `live` nodes it holds at most ceil(partitions / live),
taking free and expired partitions while below it and releasing its highest-numbered
ones while above. A dead node's partitions are taken once its leases expire (within the
TTL of its last renewal, plus a round); a node that stops gracefully releases them at
once.

A lease also ends *locally*: each renewal is good for the TTL minus a margin counted
from when it was sent, on the node's own monotonic clock. When renewals fail (the
database is unreachable, or the process was paused) the partition is dropped as soon as
that runs out, before the database's lease expires and another node may take it; the
fencing epoch makes any write that still tries fail (store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from perdure.store.api import StoreError
from perdure.store.postgres.coordination import Coordination

logger = logging.getLogger(__name__)

REPLY_RETENTION_MS = 3_600_000  # replies nobody fetched (their node died) are dropped after
_MAX_BACKOFF_S = 2.0


class NodeNameTaken(StoreError):
    """Another process runs as this node."""


class LeaseKeeper:
    def __init__(
        self,
        db: Coordination,
        node: str,
        partitions: int,
        ttl_ms: int,
        acquired: Callable[[int, int], None],
        dropped: Callable[[int], None],
    ) -> None:
        self._db = db
        self.node = node
        self.partitions = partitions
        self.ttl_ms = ttl_ms
        self._acquired = acquired
        self._dropped = dropped
        self.held: dict[int, int] = {}  # partition -> epoch
        self._valid_until: dict[int, float] = {}  # partition -> monotonic deadline
        self.live_nodes = 1
        self.first_round = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_cleanup = 0.0

    @property
    def interval_s(self) -> float:
        return self.ttl_ms / 4000

    @property
    def _validity_s(self) -> float:
        """How long a renewal holds locally: the TTL minus a fifth (at least 0.2 s)."""
        ttl = self.ttl_ms / 1000
        return ttl - max(ttl / 5, 0.2)

    def wake(self) -> None:
        self._wake.set()

    def drop(self, partition: int) -> None:
        """Stop working on `partition` now (its lease may still name us: the next rounds
        take it again, at a new epoch, and recover it)."""
        if self.held.pop(partition, None) is not None:
            self._valid_until.pop(partition, None)
            self._dropped(partition)
            self.wake()

    async def run(self) -> None:
        backoff = 0.1
        failing = False
        while True:
            self._drop_overdue()
            try:
                await self._round()
            except NodeNameTaken:
                raise
            except StoreError as exc:
                if not failing:
                    logger.warning("lease round failed, retrying: %s", exc)
                failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            if failing:
                logger.info("lease rounds work again")
            failing, backoff = False, 0.1
            self.first_round.set()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()

    def _drop_overdue(self) -> None:
        now = time.monotonic()
        for partition, deadline in list(self._valid_until.items()):
            if now >= deadline:
                logger.warning("lease of partition %d ran out before a renewal", partition)
                self.drop(partition)

    async def _round(self) -> None:
        if self._db.fresh:
            await self._connected()
        live = await self._db.heartbeat(self.node, self.ttl_ms)
        self.live_nodes = live
        sent = time.monotonic()
        renewed = await self._db.renew(self.node, self.held, self.ttl_ms)
        for partition in list(self.held):
            if partition in renewed:
                self._valid_until[partition] = sent + self._validity_s
            else:
                logger.warning("partition %d was taken over by another node", partition)
                self.drop(partition)
        share = math.ceil(self.partitions / live)
        if len(self.held) > share:
            await self._release(sorted(self.held)[share:])
        elif len(self.held) < share:
            sent = time.monotonic()
            taken = await self._db.acquire(
                self.node, self.held, share - len(self.held), self.ttl_ms
            )
            for partition, epoch in sorted(taken.items()):
                self.held[partition] = epoch
                self._valid_until[partition] = sent + self._validity_s
            if taken:
                logger.info(
                    "leased %d partitions (%d held, %d live nodes)",
                    len(taken),
                    len(self.held),
                    live,
                )
                for partition, epoch in sorted(taken.items()):
                    self._acquired(partition, epoch)
        if sent - self._last_cleanup > 60:
            self._last_cleanup = sent
            await self._db.drop_old_replies(REPLY_RETENTION_MS)

    async def _connected(self) -> None:
        """A new coordination connection: take the node's name lock on it (held for the
        connection's life), and make sure every partition has its lease row."""
        deadline = time.monotonic() + self.ttl_ms / 1000
        while not await self._db.lock_node_name(self.node):
            if time.monotonic() > deadline:
                raise NodeNameTaken(
                    f"another process runs as node {self.node!r} on this database; give "
                    "each node its own --node-name"
                )
            await asyncio.sleep(0.1)  # a killed process's session ends a moment later
        await self._db.ensure_leases(self.partitions)

    async def _release(self, partitions: list[int]) -> None:
        leases = {p: self.held[p] for p in partitions}
        for partition in partitions:
            self.drop(partition)
        released = await self._db.release(self.node, leases)
        logger.info(
            "handed back %d partitions (%d held, %d live nodes)",
            len(released),
            len(self.held),
            self.live_nodes,
        )

    async def hand_back(self) -> None:
        """Graceful stop: drop every partition, release the leases, mark the node stopped."""
        leases = dict(self.held)
        for partition in list(self.held):
            self.drop(partition)
        await self._db.release(self.node, leases)
        await self._db.stopped(self.node)
