"""The per-command context: one store transaction, one `now`, the effects it produces.

Every engine function takes an `EngineTxn` (`tx`) instead of threading the transaction,
the outcome and the clock by hand. It also keeps the invocation rows this command read or
wrote: a row is read once per command, every function sees its latest version, and it is
written to the store once, when the command ends (`finish`), however often it changed.
Nothing reads invocation rows from the store but through `get` (bulk queries run at the
start of a command: `recover`, `cleanup`), so deferring the write changes no answer.
`finish` also tells running streaming attempts about the notifications appended.

In cluster mode the command runs in one partition (`scope`): `holds` says whether an
invocation is in it, and `send` queues a message for another partition's inbox, written
by `finish` in this same transaction (`crossing`).
"""

from __future__ import annotations

from dataclasses import replace

from perdure.protocol.messages import MessageType
from perdure.server.config import ServerConfig
from perdure.server.engine import wire
from perdure.server.engine.commands import ArmTimer, Effect, InvocationEnded, NotificationCommitted
from perdure.server.engine.crossing import ENDED, Message, PartitionScope, tables
from perdure.server.engine.errors import NotFound
from perdure.server.engine.lifecycle import Event, InvocationStatus, transition
from perdure.server.engine.services import ServiceInfo, Target
from perdure.store.api import InvocationRow, JournalEntryRow, TimerRow, WriteTxn
from perdure.store.partitioning import invocation_partition_key

_NOTIFICATION_MIN = 0x8000  # notification types are 0x8000 and up (signals 0xFBFF)


class EngineTxn:
    def __init__(
        self,
        store: WriteTxn,
        config: ServerConfig,
        now: int,
        scope: PartitionScope | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.now = now
        self.scope = scope
        self._outbox: list[tuple[int, Message]] = []
        self.effects: list[Effect] = []
        self._rows: dict[str, InvocationRow | None] = {}
        self._dirty: dict[str, InvocationRow | None] = {}  # to write at the end; None: delete
        self._services: dict[str, ServiceInfo | None] = {}
        self._notifications: list[JournalEntryRow] = []
        # Journal index -> (type, payload) a running attempt gets instead of the entry
        # (protocol V7: a ProposeRunCompletionAck for a RunCompletion it proposed).
        self.forward_as: dict[int, tuple[int, bytes]] = {}

    # ---- services ---------------------------------------------------------------------

    def service_info(self, name: str) -> ServiceInfo | None:
        if name not in self._services:
            row = self.store.get_service(name)
            self._services[name] = None if row is None else ServiceInfo.from_row(row)
        return self._services[name]

    def resolve_target(self, service: str, handler: str) -> Target:
        info = self.service_info(service)
        if info is None:
            raise NotFound(f"service '{service}' not found")
        spec = info.handler(handler)
        if spec is None:
            raise NotFound(f"handler '{service}/{handler}' not found")
        return info.target(spec)

    # ---- partitions -----------------------------------------------------------------------

    def holds(self, invocation_id: str) -> bool:
        """Whether this command may write `invocation_id`'s rows (always on one node)."""
        return self.scope is None or self.scope.holds(invocation_partition_key(invocation_id))

    def send(self, invocation_id: str, message: Message) -> None:
        """Queue `message` for the inbox of `invocation_id`'s partition (cluster mode)."""
        assert self.scope is not None, "one node has no other partitions"
        partition = self.scope.partition_of(invocation_partition_key(invocation_id))
        self._outbox.append((partition, message))

    # ---- invocation rows ----------------------------------------------------------------

    def get(self, invocation_id: str) -> InvocationRow | None:
        if invocation_id not in self._rows:
            self._rows[invocation_id] = self.store.get_invocation(invocation_id)
        return self._rows[invocation_id]

    def known(self, row: InvocationRow) -> InvocationRow:
        """`row`, read by a bulk query, or the newer version this command already holds."""
        cached = self._rows.setdefault(row.id, row)
        return row if cached is None else cached

    def put(self, row: InvocationRow) -> InvocationRow:
        self._rows[row.id] = self._dirty[row.id] = row
        return row

    def delete(self, invocation_id: str) -> None:
        self._rows[invocation_id] = self._dirty[invocation_id] = None

    def move(self, row: InvocationRow, event: Event) -> InvocationRow:
        """`row` after `event`, per the lifecycle table (not stored yet)."""
        return replace(row, status=transition(row.status, event), modified_at=self.now)

    # ---- journal and timers ---------------------------------------------------------------

    def append(
        self,
        row: InvocationRow,
        entry_type: int,
        payload: bytes,
        *,
        completion_id: int | None = None,
        signal_id: int | None = None,
        signal_name: str | None = None,
    ) -> InvocationRow:
        """Append one entry to `row`'s journal; the row with its counters moved (not
        stored yet)."""
        entry = JournalEntryRow(
            row.id,
            row.journal_length,
            entry_type,
            payload,
            self.now,
            completion_id,
            signal_id,
            signal_name,
        )
        self.store.append_entry(entry)
        if entry_type >= _NOTIFICATION_MIN:
            self._notifications.append(entry)
        commands = row.commands + 1 if MessageType(entry_type).is_command else row.commands
        # Any stored entry is progress: the SDK's run-retry accounting restarts from here.
        return replace(
            row,
            journal_length=row.journal_length + 1,
            commands=commands,
            modified_at=self.now,
            retries_since_progress=0,
            last_progress_at=self.now,
        )

    def add_timer(self, timer: TimerRow) -> TimerRow:
        """Store a timer and arm it once the transaction committed."""
        stored = self.store.add_timer(timer)
        assert stored.id is not None
        self.effects.append(ArmTimer(stored.id, stored.due_at))
        return stored

    # ---- the end of the command ------------------------------------------------------------

    def finish(self) -> list[Effect]:
        """The command's effects, plus a `NotificationCommitted` for every notification
        appended to an invocation that is running when the command ends. The status is read
        now, not at append time: an entry appended before a new attempt began in this same
        command is inside that attempt's replay, and the invoker drops it by index. Writes
        the invocation rows this command changed."""
        for invocation_id, changed in self._dirty.items():
            if changed is None:
                self.store.delete_invocation(invocation_id)
            else:
                self.store.put_invocation(changed)
        self._dirty.clear()
        if self.scope is not None:
            self._cross_partitions()
        for entry in self._notifications:
            row = self.get(entry.invocation_id)
            if row is not None and row.status == InvocationStatus.RUNNING:
                entry_type, payload = self.forward_as.get(entry.index, (entry.type, entry.payload))
                self.effects.append(
                    NotificationCommitted(
                        entry.invocation_id, row.attempt, entry.index, entry_type, payload
                    )
                )
        return self.effects

    def _cross_partitions(self) -> None:
        """Write the messages for other partitions, and the results that watching nodes
        wait for, in this transaction."""
        cluster = tables(self.store)
        for effect in self.effects:
            if isinstance(effect, InvocationEnded):
                for node in cluster.take_result_watchers(effect.invocation_id):
                    cluster.push_reply(node, ENDED + effect.invocation_id, wire.encode(effect))
        for partition, message in self._outbox:
            cluster.push_message(partition, wire.encode(message))
        self._outbox.clear()
