"""One node of a cluster: several perdure servers sharing one PostgreSQL database.

The node leases a fair share of the partitions (`leases.LeaseKeeper`) and runs the
engine of each one it holds (`partition.PartitionWorker`: processor, timers, cleaner,
recovery at takeover). Its ingress and admin API take any request: commands go to the
processor of their partition, here or through that partition's inbox to its owner
(`routing`, `remote`), and waiting callers get their results wherever the invocation
runs. One invoker runs the attempts of the node's partitions; when a partition leaves
(lease lost or handed back, or a transaction of it failed, the outcome unknown), its
attempts are aborted and its waiting callers are watched at the next owner. One LISTEN
connection wakes the node for inbox messages, replies, schema changes and leases
handed back; everything it wakes for is also polled, so a lost NOTIFY only delays.

Stopping (SIGTERM), the node hands its partitions back at once and marks itself
stopped; killed, its partitions are taken over once their leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.protocol.ids import InvocationId
from perdure.server.admin.app import AdminApp
from perdure.server.clock import Clock
from perdure.server.cluster.admin import ClusterAdmin
from perdure.server.cluster.leases import LeaseKeeper
from perdure.server.cluster.partition import PartitionWorker
from perdure.server.cluster.pump import InboxPump
from perdure.server.cluster.remote import ClusterWaiters, RemoteCommands
from perdure.server.cluster.routing import ClusterRouter
from perdure.server.config import ServerConfig
from perdure.server.engine import AttemptFailed, SdkFrames, Target, choose_invocation_id
from perdure.server.ingress.app import IngressApp
from perdure.server.invoker import Invoker
from perdure.server.observe.metrics import ServerMetrics
from perdure.store.api import Lease, LeaseLost, StoreError
from perdure.store.partitioning import invocation_partition_key, partition_of, partition_range
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.cluster_tables import (
    INBOX_CHANNEL,
    LEASE_CHANNEL,
    REPLY_CHANNEL,
    SCHEMA_CHANNEL,
)
from perdure.store.postgres.coordination import Coordination, notifications

logger = logging.getLogger(__name__)

HAND_BACK_TIMEOUT_S = 5.0


class ClusterNode:
    """The cluster counterpart of `perdure.server.app.Components`: the same `ingress`,
    `admin`, `started` and `run`."""

    def __init__(self, config: ServerConfig, store: PostgresStore, clock: Clock) -> None:
        assert config.node_name is not None
        self.config = config
        self.store = store
        self.clock = clock
        self.node = node = config.node_name
        self.workers: dict[int, PartitionWorker] = {}
        self.metrics = ServerMetrics()
        self.waiters = ClusterWaiters(node, self._partition_of, self._holds)
        self._leases_db = Coordination(store.conninfo, f"perdure-leases {node}")
        self._db = Coordination(store.conninfo, f"perdure-node {node}")
        ttl_s = config.lease_ttl_ms / 1000
        self.remote = RemoteCommands(node, store, self._db, self.waiters, max(30.0, 3 * ttl_s))
        self.router = ClusterRouter(config.partitions, self.workers, self.remote, self.waiters)
        self.invoker = Invoker(config, self._submit_attempt_news, {}, clock)
        self.keeper = LeaseKeeper(
            self._leases_db,
            node,
            config.partitions,
            config.lease_ttl_ms,
            self._acquired,
            self._dropped,
        )
        self.pump = InboxPump(self._db, self.workers)
        signer = None
        if config.request_identity_key_file is not None:
            signer = RequestSigner(
                load_private_key_pem(config.request_identity_key_file.read_bytes())
            )
        self.ingress = IngressApp(
            config, store, self.router.submit, self.waiters, choose_id=self._choose_id
        )
        admin = AdminApp(
            config, store, clock, signer, self.router.submit, metrics=self.render_metrics
        )
        self.admin = ClusterAdmin(admin, config, self._db)
        self.started = asyncio.Event()

    async def _submit_attempt_news(self, command: SdkFrames | AttemptFailed) -> None:
        self.metrics.submitted(command)
        await self.router.submit_local(command)

    async def render_metrics(self) -> bytes:
        """This node's metrics: its partitions' processors and timers, its invoker."""
        workers = list(self.workers.values())

        def timers() -> tuple[int, int]:
            counts = [w.timers.counts() for w in workers]
            return sum(a for a, _ in counts), sum(d for _, d in counts)

        return await self.metrics.render(
            self.store,
            processor_pending=lambda: sum(w.processor.pending for w in workers),
            invoker_queued=lambda: self.invoker.queued,
            timers=timers,
        )

    def _choose_id(self, target: Target, key: str | None, idempotency_key: str | None) -> str:
        """An ingress call that may run in any partition (a plain service call) runs in
        one this node leases: no routing. Anything else has its one id (the engine's)."""
        held = [p for p, w in self.workers.items() if w.active]
        if target.keyed or idempotency_key is not None or not held:
            return choose_invocation_id(target, key, idempotency_key)
        first, last = partition_range(random.choice(held), self.config.partitions)
        return str(InvocationId.generate(random.randint(first, last)))

    def _partition_of(self, invocation_id: str) -> int:
        return partition_of(invocation_partition_key(invocation_id), self.config.partitions)

    def _holds(self, invocation_id: str) -> bool:
        return self.router.local(self._partition_of(invocation_id)) is not None

    # -- partitions arriving and leaving ------------------------------------------------

    def _acquired(self, partition: int, epoch: int) -> None:
        # Rows of this partition cached before (when we last held it) may be stale.
        self.store.forget_cached_rows()
        worker = PartitionWorker(
            self.config,
            self.clock,
            self.store,
            Lease(partition, self.node, epoch),
            self.invoker,
            self.waiters.resolve,
            self._failed,
            self.metrics,
        )
        worker.start()
        self.workers[partition] = worker
        self.pump.wake(partition)

    def _dropped(self, partition: int) -> None:
        worker = self.workers.pop(partition, None)
        if worker is not None:
            worker.stop()
        self.invoker.abort_where(
            lambda invocation_id: self._partition_of(invocation_id) == partition
        )
        self.waiters.partition_lost(partition)

    def _failed(self, lease: Lease, error: BaseException) -> None:
        """A fenced write of `lease` failed: lost to another node, or its outcome unknown
        (the database went away). Either way the partition starts over from the database:
        the lease keeper takes it again if it can, and recovers it."""
        if self.keeper.held.get(lease.partition) != lease.epoch:
            return  # an older worker's write; the partition moved on already
        if isinstance(error, LeaseLost):
            logger.warning("partition %d: %s", lease.partition, error)
        else:
            logger.warning("partition %d restarts after a failed write: %s", lease.partition, error)
        self.keeper.drop(lease.partition)

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        await self._db.started(self.node)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.invoker.run(), name="invoker")
                group.create_task(self._listen(), name="listener")
                group.create_task(self.pump.run(), name="inbox pump")
                group.create_task(self.remote.run(), name="replies")
                group.create_task(self.waiters.run(self.store), name="watches")
                group.create_task(self.keeper.run(), name="leases")
                await self.keeper.first_round.wait()
                logger.info(
                    "node %s joined: %d of %d partitions, %d live nodes",
                    self.node,
                    len(self.keeper.held),
                    self.config.partitions,
                    self.keeper.live_nodes,
                )
                self.started.set()
        finally:
            await self._hand_back()

    async def _hand_back(self) -> None:
        try:
            async with asyncio.timeout(HAND_BACK_TIMEOUT_S):
                await self.keeper.hand_back()
            logger.info("node %s stopped and handed its partitions back", self.node)
        except (StoreError, TimeoutError) as exc:
            logger.warning("could not hand the partitions back (they expire instead): %s", exc)
        finally:
            await self._leases_db.close()
            await self._db.close()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                async for note in notifications(self.store.conninfo, f"perdure-listen {self.node}"):
                    backoff = 0.1
                    if note is None:
                        self._missed_notifications()
                    else:
                        self._notified(*note)
            except StoreError as exc:
                logger.warning(
                    "listening for notifications failed, again in %.1fs: %s", backoff, exc
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _notified(self, channel: str, payload: str) -> None:
        if channel == INBOX_CHANNEL:
            with contextlib.suppress(ValueError):
                self.pump.wake(int(payload))
        elif channel == REPLY_CHANNEL:
            if payload == self.node:
                self.remote.wake()
        elif channel == SCHEMA_CHANNEL:
            self.store.schema_changed_elsewhere()
        elif channel == LEASE_CHANNEL and payload != self.node:
            self.keeper.wake()

    def _missed_notifications(self) -> None:
        """A new listening connection: whatever was notified meanwhile, look at it all."""
        self.pump.wake_all()
        self.remote.wake()
        self.keeper.wake()
        self.store.schema_changed_elsewhere()
