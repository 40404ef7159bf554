"""Effects that cross partitions, as messages (cluster mode).

With several nodes, a partition's rows are written only by the node that leases it, and
only in transactions fenced by that lease. A command therefore runs in one partition
(`PartitionScope`); whatever it does to an invocation of another partition — create a
called child, deliver a call's result or a signal, attach, kill a child — becomes a
message in that partition's inbox, written in the same transaction as the command (so
it exists exactly when the command committed), and applied there, exactly once, by the
partition's owner (`ApplyMessage`: the message row is deleted in the transaction that
applies it). On a single node there is no scope and every effect applies at once, in the
command's own transaction, as before.

Commands that arrive at a node not leasing their partition travel the same way
(`Routed`), with the node and request to answer (`Reply`, in `command_replies`); a node
waiting on an invocation's result registers as a watcher (`WatchResult`), answered
when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from perdure.protocol.manifest import HandlerType, ServiceType
from perdure.server.engine.commands import Command
from perdure.store.api import (
    InvocationRow,
    InvocationStatus,
    PartitionTables,
    TimerRow,
    WriteTxn,
)
from perdure.store.partitioning import partition_of, partition_range


@dataclass(frozen=True, slots=True)
class PartitionScope:
    """The one partition a command may write (its node leases it)."""

    partition: int
    partitions: int
    node: str

    def holds(self, partition_key: int) -> bool:
        return partition_of(partition_key, self.partitions) == self.partition

    def partition_of(self, partition_key: int) -> int:
        return partition_of(partition_key, self.partitions)

    @property
    def key_range(self) -> tuple[int, int]:
        return partition_range(self.partition, self.partitions)


# ---- messages between partitions -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpawnChild:
    """The callee's half of a call or one-way call: create the child (unless its id
    exists) and arrange for its result to reach `caller_id`."""

    child_id: str
    service: str
    handler: str
    service_ty: ServiceType
    handler_ty: HandlerType | None
    key: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    idempotency_key: str | None
    execution_time: int | None
    caller_id: str
    result_completion_id: int | None


@dataclass(frozen=True, slots=True)
class Notify:
    """Append a notification to an invocation (a call's result, an attach's answer)."""

    invocation_id: str
    entry_type: int
    payload: bytes
    completion_id: int | None = None
    signal_id: int | None = None


@dataclass(frozen=True, slots=True)
class AttachRequest:
    """An attach (or get-output) of `caller_id` on `target_id`: answer it from there."""

    target_id: str
    caller_id: str
    completion_id: int
    get_output: bool


@dataclass(frozen=True, slots=True)
class DeliverSignal:
    """A signal (a serialized SignalNotification) for `target_id`."""

    target_id: str
    notification: bytes


@dataclass(frozen=True, slots=True)
class KillChild:
    """Kill an invocation that a killed one had called (if it has not completed)."""

    invocation_id: str


@dataclass(frozen=True, slots=True)
class WatchResult:
    """`node` waits on this invocation's result: reply now if it ended, else when it does."""

    invocation_id: str
    node: str


@dataclass(frozen=True, slots=True)
class Routed:
    """A command submitted on `node`, which does not lease its partition; the reply goes
    to `request_id`. `watch`: the node also waits on the invocation's result."""

    command: Command[Any]
    node: str
    request_id: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A routed command's reply, or the name and message of the `EngineError` it raised."""

    value: Any = None
    error: str | None = None
    message: str | None = None


Message = SpawnChild | Notify | AttachRequest | DeliverSignal | KillChild | WatchResult | Routed

# Request ids of the replies that carry a result to a watching node, and of the one that
# says the invocation is not there (the node looks again itself).
ENDED = "ended:"
UNKNOWN = "unknown:"


@dataclass(frozen=True, slots=True)
class ApplyMessage(Command[None]):
    """Apply message `message_id` of this partition's inbox (once: a message already
    taken is skipped)."""

    message_id: int
    body: bytes


# ---- one partition's view of the tables -------------------------------------------------


class _ScopedTxn:
    """A write transaction whose bulk queries see one partition's rows only: what its
    owner recovers, times and cleans. Everything else is the transaction's own."""

    def __init__(self, txn: WriteTxn, scope: PartitionScope) -> None:
        self._txn = txn
        self._tables = cast(PartitionTables, txn)
        self._first, self._last = scope.key_range

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)

    def invocations_with_status(self, status: InvocationStatus) -> list[InvocationRow]:
        return self._tables.invocations_with_status_in(status, self._first, self._last)

    def expired_completions(self, now: int, limit: int) -> list[InvocationRow]:
        return self._tables.expired_completions_in(now, limit, self._first, self._last)

    def expired_journals(self, now: int, limit: int) -> list[InvocationRow]:
        return self._tables.expired_journals_in(now, limit, self._first, self._last)

    def all_timers(self) -> list[TimerRow]:
        return self._tables.timers_in(self._first, self._last)


def scoped(txn: WriteTxn, scope: PartitionScope) -> WriteTxn:
    return cast(WriteTxn, _ScopedTxn(txn, scope))


def tables(txn: WriteTxn) -> PartitionTables:
    """The cluster tables of a transaction (only ever called in cluster mode)."""
    return cast(PartitionTables, txn)
