"""The store interface: frozen rows, per-table operations, and the transaction boundary.

Every backend (SQLite, PostgreSQL) implements `Store`. All writes happen inside
`Store.write(fn)`: `fn` receives a `WriteTxn` and runs on the backend's single writer; when
`write` returns, the transaction has committed (durably, per the backend's fsync policy).
Backends may group several `write` calls into one transaction (group commit); each call
still succeeds or fails on its own (a failing call is rolled back to its savepoint).

`fn` runs on a worker thread, not on the event loop: it must not touch asyncio objects.

    StoreError        anything the store cannot do
    ├── StoreLockedError  another process holds the data directory or database
    ├── StoreConfigError  cannot open the store as configured
    ├── LeaseLost         a fenced write of a partition this node no longer leases
    └── QueryError        an introspection query is not acceptable or failed
        └── QueryBusy     too many queries at once; retry later
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from perdure.protocol.manifest import HandlerType, ServiceType
from perdure.store.feature_api import (
    LimitRuleRow as LimitRuleRow,
    LimitTable,
    ScheduleRow as ScheduleRow,
    ScheduleTable,
    SubscriptionRow as SubscriptionRow,
    SubscriptionTable,
)

T = TypeVar("T")


class StoreError(Exception):
    """The store failed to read or write."""


class StoreWriteError(StoreError):
    """A write transaction could not commit (a full or read-only disk, a lost database):
    nothing of it was stored, so the work may be submitted again once the cause is gone."""


class StoreLockedError(StoreError):
    """Another process already uses this data directory (or database)."""


class StoreConfigError(StoreError):
    """The store cannot be opened as configured (unreachable database, a partition count
    other than the one the schema was created with, a missing driver); the message says
    what to change."""


class LeaseLost(StoreError):
    """A write fenced by a partition lease that this node no longer holds at that epoch
    (another node took the partition over): nothing of it ran, nothing was committed."""


class QueryError(StoreError):
    """The query is not acceptable or failed; the message says why."""


class QueryBusy(QueryError):
    """Too many queries run at once; retry later."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What an introspection query returned: column names, then rows of values (None for
    SQL NULL, bytes for blobs)."""

    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


# ---- vocabulary ------------------------------------------------------------


class InvocationStatus(enum.StrEnum):
    """Where an invocation is in its lifecycle; the transitions live in
    `perdure.server.engine.lifecycle`."""

    PENDING = "pending"  # inboxed behind the key's lock
    SCHEDULED = "scheduled"  # delayed send, waits for its timer
    READY = "ready"  # accepted, no attempt started yet
    RUNNING = "running"  # an attempt is in flight
    BACKING_OFF = "backing-off"  # last attempt failed, retry timer armed
    SUSPENDED = "suspended"  # waits for a notification
    PAUSED = "paused"  # retries exhausted or paused by an operator
    LIMITED = "limited"  # waits for a concurrency slot or a rate token (flow control)
    COMPLETED = "completed"  # result stored; final


class TimerKind(enum.StrEnum):
    SLEEP = "sleep"  # a handler's durable sleep: completes `completion_id`
    RETRY = "retry"  # backoff before the next attempt (fenced by `attempt`)
    SCHEDULED = "scheduled"  # a delayed send becomes due
    SCHEDULE = "schedule"  # a cron schedule's next tick (`invocation_id`: "schedule:NAME")
    LIMIT = "limit"  # a rate limit has a token again (`invocation_id`: "limit:RULE\nGROUP")


ProtocolMode = Literal["REQUEST_RESPONSE", "BIDI_STREAM"]
InvokedBy = Literal["ingress", "service"]


# ---- rows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    id: str
    uri: str
    use_http_11: bool
    protocol_mode: ProtocolMode
    min_protocol_version: int
    max_protocol_version: int
    additional_headers: dict[str, str]
    sdk_version: str | None
    created_at: int  # ms since the epoch
    manifest_json: str  # the discovered manifest, verbatim (JSON text)


@dataclass(frozen=True, slots=True)
class ServiceRow:
    name: str
    deployment_id: str
    revision: int
    ty: ServiceType
    public: bool
    manifest_json: str  # this service's object in the manifest (JSON text)


@dataclass(frozen=True, slots=True)
class InvocationRow:
    """One invocation: target, lifecycle status, attempt bookkeeping, result.

    `attempt` is the epoch of the current (or last) attempt: messages from any other
    attempt are stale and dropped. `result` is a serialized `OutputCommandMessage`
    (value or failure) once the invocation completed.
    """

    id: str
    service: str
    handler: str
    key: str | None
    service_ty: ServiceType
    handler_ty: HandlerType | None
    status: InvocationStatus
    created_at: int
    modified_at: int
    invoked_by: InvokedBy = "ingress"
    caller_id: str | None = None
    idempotency_key: str | None = None
    deployment_id: str | None = None
    protocol_version: int | None = None
    attempt: int = 0
    retry_count: int = 0
    retries_since_progress: int = 0
    last_progress_at: int = 0
    next_retry_at: int | None = None
    last_failure: str | None = None
    last_failure_code: int | None = None
    waiting_completions: tuple[int, ...] = ()
    waiting_signals: tuple[int, ...] = ()
    execution_time: int | None = None
    random_seed: int = 0
    journal_length: int = 0
    commands: int = 0
    completion_retention_ms: int = 0
    completed_at: int | None = None
    result: bytes | None = None
    # How long the journal is kept after completion (at most completion_retention_ms).
    journal_retention_ms: int = 0
    # A suspension may wait on named signals too (protocol V6 `waiting_named_signals`).
    waiting_named_signals: tuple[str, ...] = ()
    # The last failed attempt, as the SDK reported it (ErrorMessage) or the server saw it.
    last_failure_stacktrace: str | None = None
    last_failure_command_index: int | None = None
    last_failure_command_name: str | None = None
    last_failure_command_type: int | None = None  # a message type code, e.g. 0x0411 (Run)
    last_failure_doc_code: str | None = None  # restate's documentation code, e.g. "RT0007"
    first_attempt_at: int | None = None
    last_attempt_at: int | None = None


@dataclass(frozen=True, slots=True)
class JournalEntryRow:
    """One journal entry, stored as received and replayed verbatim.

    For notifications, `completion_id` / `signal_id` repeat the id inside the payload so
    that "is this notification already there?" is a lookup, not a decode.
    """

    invocation_id: str
    index: int
    type: int
    payload: bytes
    appended_at: int
    completion_id: int | None = None
    signal_id: int | None = None
    signal_name: str | None = None


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A durable timer. `attempt` fences retry timers armed for an older attempt."""

    id: int | None
    due_at: int
    invocation_id: str
    kind: TimerKind
    completion_id: int | None = None
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One entry of a key's FIFO inbox: an exclusive invocation waiting for the key's lock,
    or (`state_mutation` set, `invocation_id` a placeholder) a state replacement queued
    by the admin API, applied when its turn comes."""

    service: str
    key: str
    seq: int
    invocation_id: str
    state_mutation: bytes | None = None


@dataclass(frozen=True, slots=True)
class WaiterRow:
    """`caller_id` waits for `invocation_id` to end; its result goes to `completion_id`.

    `entry_type` is the notification the result becomes: a CallCompletion (0x800D) for a
    call, an AttachInvocationCompletion (0x8012) for an attach.
    """

    invocation_id: str
    caller_id: str
    completion_id: int
    entry_type: int = 0x800D


class DeploymentTable(Protocol):
    def put_deployment(self, row: DeploymentRow) -> None: ...
    def get_deployment(self, deployment_id: str) -> DeploymentRow | None: ...
    def list_deployments(self) -> list[DeploymentRow]: ...
    def delete_deployment(self, deployment_id: str) -> None: ...


class ServiceTable(Protocol):
    def put_service(self, row: ServiceRow) -> None: ...
    def get_service(self, name: str) -> ServiceRow | None: ...
    def list_services(self) -> list[ServiceRow]: ...
    def delete_service(self, name: str) -> None: ...


class InvocationTable(Protocol):
    def put_invocation(self, row: InvocationRow) -> None: ...
    def get_invocation(self, invocation_id: str) -> InvocationRow | None: ...
    def invocations_with_status(self, status: InvocationStatus) -> list[InvocationRow]: ...
    def list_invocations(self, limit: int = 1000) -> list[InvocationRow]: ...
    def delete_invocation(self, invocation_id: str) -> None: ...
    def expired_completions(self, now: int, limit: int) -> list[InvocationRow]:
        """Completed invocations whose completion retention ended at or before `now`."""
        ...

    def expired_journals(self, now: int, limit: int) -> list[InvocationRow]:
        """Completed invocations that still have a journal whose retention ended."""
        ...


class JournalTable(Protocol):
    def append_entry(self, row: JournalEntryRow) -> None: ...
    def read_journal(self, invocation_id: str) -> list[JournalEntryRow]: ...
    def has_notification(
        self,
        invocation_id: str,
        completion_ids: Sequence[int],
        signal_ids: Sequence[int],
        from_index: int = 0,
        signal_names: Sequence[str] = (),
    ) -> bool:
        """One of these notifications is stored at journal index `from_index` or later."""
        ...

    def has_completion(self, invocation_id: str, completion_id: int, entry_type: int) -> bool: ...
    def delete_journal(self, invocation_id: str) -> None: ...


class StateTable(Protocol):
    def get_state(self, service: str, key: str, state_key: bytes) -> bytes | None: ...
    def all_state(self, service: str, key: str) -> list[tuple[bytes, bytes]]: ...
    def set_state(self, service: str, key: str, state_key: bytes, value: bytes) -> None: ...
    def clear_state(self, service: str, key: str, state_key: bytes) -> None: ...
    def clear_all_state(self, service: str, key: str) -> None: ...


class LockTable(Protocol):
    """The virtual-object lock: which invocation holds (service, key)."""

    def lock_holder(self, service: str, key: str) -> str | None: ...
    def take_lock(self, service: str, key: str, invocation_id: str) -> None: ...
    def release_lock(self, service: str, key: str) -> None: ...


class InboxTable(Protocol):
    """FIFO of exclusive invocations waiting for a locked key."""

    def push_inbox(
        self,
        service: str,
        key: str,
        invocation_id: str | None,
        state_mutation: bytes | None = None,
    ) -> InboxRow:
        """Queue an invocation, or (invocation_id None) a state mutation."""
        ...

    def pop_inbox(self, service: str, key: str) -> InboxRow | None: ...
    def remove_from_inbox(self, invocation_id: str) -> None: ...


class TimerTable(Protocol):
    def add_timer(self, row: TimerRow) -> TimerRow: ...
    def get_timer(self, timer_id: int) -> TimerRow | None: ...
    def delete_timer(self, timer_id: int) -> None: ...
    def delete_timers_of(self, invocation_id: str) -> None: ...
    def all_timers(self) -> list[TimerRow]: ...


class WaiterTable(Protocol):
    def add_waiter(self, row: WaiterRow) -> None: ...
    def take_waiters(self, invocation_id: str) -> list[WaiterRow]: ...


class PromiseTable(Protocol):
    """Durable promises of a workflow key. `result` is a serialized OutputCommandMessage
    (value or failure); a promise row exists only once completed."""

    def get_promise(self, service: str, key: str, name: str) -> bytes | None: ...
    def complete_promise(self, service: str, key: str, name: str, result: bytes) -> bool:
        """Store the first completion; False (and nothing changed) if already completed."""
        ...

    def add_promise_listener(
        self, service: str, key: str, name: str, invocation_id: str, completion_id: int
    ) -> None: ...
    def take_promise_listeners(self, service: str, key: str, name: str) -> list[tuple[str, int]]:
        """Remove and return the (invocation id, completion id) pairs waiting on a promise."""
        ...

    def clear_promises(self, service: str, key: str) -> None: ...


class ReadTxn(
    DeploymentTable,
    ServiceTable,
    InvocationTable,
    JournalTable,
    StateTable,
    LockTable,
    InboxTable,
    TimerTable,
    WaiterTable,
    PromiseTable,
    ScheduleTable,
    LimitTable,
    SubscriptionTable,
    Protocol,
):
    """Every table. Reads see a consistent snapshot; writes only work in `Store.write`."""


WriteTxn = ReadTxn


class PartitionTables(Protocol):
    """What cluster mode adds to a write transaction (PostgreSQL only).

    Reads restricted to one partition (its u64 partition keys `first`..`last`), the
    partitions' inboxes of cross-partition messages, replies to commands routed from
    another node, the nodes watching an invocation's result, and notifications that go
    out when the transaction commits (none if it rolls back).
    """

    def invocations_with_status_in(
        self, status: InvocationStatus, first: int, last: int
    ) -> list[InvocationRow]: ...
    def expired_completions_in(
        self, now: int, limit: int, first: int, last: int
    ) -> list[InvocationRow]: ...
    def expired_journals_in(
        self, now: int, limit: int, first: int, last: int
    ) -> list[InvocationRow]: ...
    def timers_in(self, first: int, last: int) -> list[TimerRow]: ...
    def push_message(self, partition: int, body: bytes) -> None: ...
    def take_message(self, message_id: int) -> bool:
        """Delete a message of a partition's inbox; False if it was already taken."""
        ...

    def push_reply(self, node: str, request_id: str, body: bytes) -> None: ...
    def add_result_watcher(self, invocation_id: str, node: str) -> None: ...
    def take_result_watchers(self, invocation_id: str) -> list[str]: ...
    def notify(self, channel: str, payload: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Lease:
    """A partition's lease as a node holds it: writes fenced by it commit only while the
    partition is still leased to `node` at `epoch`."""

    partition: int
    node: str
    epoch: int


@dataclass(frozen=True, slots=True)
class JobFailed:
    """What `write_many_nowait` gives for a job that raised (that job was rolled back)."""

    error: Exception


class Store(abc.ABC):
    """A durable store. Open it, use `write` and `read`, then `close` it."""

    @abc.abstractmethod
    def write_nowait(self, fn: Callable[[WriteTxn], T]) -> asyncio.Future[T]:
        """Queue `fn` for the writer now; the future resolves once it committed.

        Jobs are applied in the order they were queued, so a caller that queues several
        jobs before awaiting any gets them applied in that order (and usually committed
        together).
        """

    async def write(self, fn: Callable[[WriteTxn], T]) -> T:
        """Run `fn` in a write transaction; return once it committed."""
        return await self.write_nowait(fn)

    def write_many_nowait(
        self, fns: Sequence[Callable[[WriteTxn], T]]
    ) -> asyncio.Future[list[T | JobFailed]]:
        """Queue several jobs at once, each rolled back alone if it raises; one future for
        all of them, resolved once they committed, with each job's result or `JobFailed`.
        A failure of the transaction itself fails the future (nothing was committed)."""
        futures = [self.write_nowait(fn) for fn in fns]

        async def collect() -> list[T | JobFailed]:
            results: list[T | JobFailed] = []
            for future in futures:
                try:
                    results.append(await future)
                except StoreError:
                    raise
                except Exception as exc:
                    results.append(JobFailed(exc))
            return results

        return asyncio.ensure_future(collect())

    @abc.abstractmethod
    async def read(self, fn: Callable[[ReadTxn], T]) -> T:
        """Run `fn` against a consistent read snapshot of committed data."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """A number that changes whenever a committed write changed a deployment or a
        service: what readers compare to know a cached schema value is still current."""

    @abc.abstractmethod
    async def query(self, sql: str) -> QueryResult:
        """Run one read-only SQL statement over the introspection views (named like
        restate-server's system tables); raise `QueryError` for anything else."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending work and release the files."""
