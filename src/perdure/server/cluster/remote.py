"""Commands for partitions another node leases, and results this node waits for.

**Routed commands.** A command whose partition this node does not lease is written to
that partition's inbox (`Routed`, committed on this node's writer; the owner is woken by
NOTIFY) and applied by the owner, who writes the reply for this node (`command_replies`,
NOTIFY again). The reply, or the `EngineError` it carries, is what `submit` returns or
raises. The message is durable once written: if the owner dies, the next one applies it.

**Results.** An ingress caller waits on an invocation through `ResultWaiters`. When the
invocation's partition is another node's, this node registers as a watcher there (with
the routed `Invoke` itself, or a `WatchResult` message), and the owner writes the result
for it when the invocation ends. When this node loses a partition, the callers waiting
on its invocations are watched the same way. Replies are fetched when NOTIFY says some
are there, and polled while anything is outstanding (a NOTIFY sent while the listening
connection was down is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from perdure.server.engine import (
    ENDED,
    UNKNOWN,
    Command,
    Conflict,
    EngineError,
    InvalidRequest,
    InvocationEnded,
    NotFound,
    NotStarted,
    Reply,
    ResultWaiters,
    Routed,
    WatchResult,
    completed_result,
    decode_wire,
    encode_wire,
    expires_at,
)
from perdure.store.api import PartitionTables, StoreError, WriteTxn
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.coordination import Coordination

logger = logging.getLogger(__name__)

POLL_S = 1.0
_ERRORS: dict[str, type[EngineError]] = {
    cls.__name__: cls for cls in (NotFound, Conflict, NotStarted, InvalidRequest, EngineError)
}


class RoutingTimeout(StoreError):
    """No reply from the partition's owner in time (the command may still be applied)."""


def _post(partition: int, body: bytes) -> Callable[[WriteTxn], None]:
    def job(txn: WriteTxn) -> None:
        tables: PartitionTables = txn  # type: ignore[assignment]
        tables.push_message(partition, body)

    return job


class ClusterWaiters(ResultWaiters):
    """`ResultWaiters` that make sure the owner of a waited-on invocation answers this node
    (see the module docstring). `holds(invocation_id)`: this node leases its partition."""

    def __init__(
        self, node: str, partition_of: Callable[[str], int], holds: Callable[[str], bool]
    ) -> None:
        super().__init__()
        self._node = node
        self._partition_of = partition_of
        self._holds = holds
        self._maybe: set[str] = set()  # registered, not local: watch unless an Invoke does
        self._to_watch: set[str] = set()
        self._kick = asyncio.Event()

    def register(self, invocation_id: str) -> asyncio.Future[InvocationEnded]:
        future = super().register(invocation_id)
        if not self._holds(invocation_id):
            self._maybe.add(invocation_id)
            asyncio.get_running_loop().call_soon(self._maybe_watch, invocation_id)
        return future

    def claim(self, invocation_id: str) -> bool:
        """A routed `Invoke` of `invocation_id` registers the watch itself: True if
        someone here waits on it."""
        self._maybe.discard(invocation_id)
        return self.is_waiting(invocation_id)

    def _maybe_watch(self, invocation_id: str) -> None:
        if invocation_id in self._maybe:
            self._maybe.discard(invocation_id)
            self.watch(invocation_id)

    def watch(self, invocation_id: str) -> None:
        if self.is_waiting(invocation_id):
            self._to_watch.add(invocation_id)
            self._kick.set()

    def partition_lost(self, partition: int) -> None:
        """The node no longer leases `partition`: its new owner must answer our callers."""
        for invocation_id in self.waiting():
            if self._partition_of(invocation_id) == partition:
                self.watch(invocation_id)

    async def run(self, store: PostgresStore) -> None:
        """Post the pending watches (one write for all); retried until committed."""
        while True:
            await self._kick.wait()
            self._kick.clear()
            wanted = [i for i in self._to_watch if self.is_waiting(i)]
            self._to_watch.clear()
            if not wanted:
                continue
            jobs = [
                _post(self._partition_of(i), encode_wire(WatchResult(i, self._node)))
                for i in wanted
            ]
            try:
                await store.write_many_nowait(jobs)
            except StoreError as exc:
                logger.warning("cannot watch %d results yet, retrying: %s", len(wanted), exc)
                self._to_watch.update(wanted)
                await asyncio.sleep(POLL_S)
                self._kick.set()


class RemoteCommands:
    def __init__(
        self,
        node: str,
        store: PostgresStore,
        db: Coordination,
        waiters: ClusterWaiters,
        timeout_s: float,
    ) -> None:
        self._node = node
        self._store = store
        self._db = db
        self._waiters = waiters
        self._timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._wake = asyncio.Event()
        self._lookups: set[asyncio.Task[None]] = set()

    async def submit(self, partition: int, command: Command[Any], watch: bool) -> Any:
        request_id = uuid.uuid4().hex
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        try:
            body = encode_wire(Routed(command, self._node, request_id, watch))
            await self._store.write(_post(partition, body))
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await reply
            except TimeoutError:
                raise RoutingTimeout(
                    f"partition {partition}'s owner did not answer within {self._timeout_s:.0f}s"
                ) from None
        finally:
            self._pending.pop(request_id, None)
        if answer.error is not None:
            raise _ERRORS.get(answer.error, EngineError)(answer.message or answer.error)
        return answer.value

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Fetch this node's replies when told, and every second while some are due."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S if self._outstanding() else 10 * POLL_S):
                    await self._wake.wait()
            self._wake.clear()
            try:
                replies = await self._db.take_replies(self._node)
            except StoreError as exc:
                logger.debug("fetching replies failed: %s", exc)
                continue
            for request_id, body in replies:
                self._dispatch(request_id, body)

    def _outstanding(self) -> bool:
        return bool(self._pending) or bool(self._waiters.waiting())

    def _dispatch(self, request_id: str, body: bytes) -> None:
        if request_id.startswith(ENDED):
            ended = decode_wire(body)
            assert isinstance(ended, InvocationEnded)
            self._waiters.resolve(ended)
        elif request_id.startswith(UNKNOWN):
            invocation_id = request_id.removeprefix(UNKNOWN)
            if self._waiters.is_waiting(invocation_id):
                lookup = asyncio.create_task(self._look_again(invocation_id))
                self._lookups.add(lookup)
                lookup.add_done_callback(self._lookups.discard)
        elif (future := self._pending.get(request_id)) is not None and not future.done():
            answer = decode_wire(body)
            assert isinstance(answer, Reply)
            future.set_result(answer)

    async def _look_again(self, invocation_id: str) -> None:
        """The owner did not know the invocation when our watch arrived; our caller saw it
        (or is about to look): read it, and watch again if it is there."""
        row = await self._store.read(lambda txn: txn.get_invocation(invocation_id))
        if row is None:
            return
        result = completed_result(row)
        if result is not None:
            self._waiters.resolve(InvocationEnded(row.id, result, expires_at(row)))
        else:
            self._waiters.watch(invocation_id)
