"""Which processor a command goes to: its partition's, here or on another node.

Commands carry the invocation id (or, for a state replacement, the key) whose partition
key names their partition (`perdure.protocol.ids`). The ingress and admin submit through
`submit`: to the local worker when this node leases the partition, else routed to the
owner through the partition's inbox (`remote`). A command refused because the lease was
lost meanwhile committed nothing, so it is routed again. The invoker submits through
`submit_local`: an attempt's frames belong to the node that started it, and a node that
lost the partition has no business writing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from perdure.server.cluster.partition import PartitionWorker
from perdure.server.cluster.remote import ClusterWaiters, RemoteCommands
from perdure.server.engine import (
    AttemptFailed,
    Command,
    CompleteSignal,
    InvocationControl,
    Invoke,
    ReplaceState,
    SdkFrames,
    Unsupported,
)
from perdure.store.api import LeaseLost
from perdure.store.partitioning import (
    invocation_partition_key,
    key_partition_key,
    partition_of,
)

R = TypeVar("R")
_ATTEMPTS = 5  # a partition moving more often than this during one command is a fault


def partition_key_of(command: Command[Any]) -> int:
    if isinstance(command, Invoke | CompleteSignal | InvocationControl):
        return invocation_partition_key(command.invocation_id)
    if isinstance(command, ReplaceState):
        return key_partition_key(command.key)
    if isinstance(command, SdkFrames | AttemptFailed):
        return invocation_partition_key(command.invocation_id)
    # Schedules, limits and subscriptions live outside the partitions; no node owns them yet.
    raise Unsupported(
        f"{type(command).__name__}: schedules, flow-control limits and Kafka subscriptions "
        "are not available in cluster mode yet (docs/scaling.md)"
    )


class ClusterRouter:
    def __init__(
        self,
        partitions: int,
        workers: Mapping[int, PartitionWorker],
        remote: RemoteCommands,
        waiters: ClusterWaiters,
    ) -> None:
        self._partitions = partitions
        self._workers = workers
        self._remote = remote
        self._waiters = waiters

    def partition(self, command: Command[Any]) -> int:
        return partition_of(partition_key_of(command), self._partitions)

    def local(self, partition: int) -> PartitionWorker | None:
        worker = self._workers.get(partition)
        return worker if worker is not None and worker.active else None

    async def submit(self, command: Command[R]) -> R:
        partition = self.partition(command)
        for _ in range(_ATTEMPTS):
            worker = self.local(partition)
            if worker is None:
                watch = isinstance(command, Invoke) and self._waiters.claim(command.invocation_id)
                result: R = await self._remote.submit(partition, command, watch)
                return result
            try:
                return await worker.processor.submit(command)
            except LeaseLost:
                continue  # nothing of it committed: route it to the new owner
        raise LeaseLost(f"partition {partition} kept changing hands; try again")

    async def submit_local(self, command: SdkFrames | AttemptFailed) -> None:
        partition = self.partition(command)
        worker = self.local(partition)
        if worker is None:
            raise LeaseLost(f"partition {partition} is no longer leased here")
        await worker.processor.submit(command)
