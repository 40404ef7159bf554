"""Live notifications for bidi attempts (protocol reference §6.2).

A bidi attempt gets the journal as it was when its attempt began (the snapshot in its
StartMessage), then every notification committed for its invocation afterwards, in
journal order. Two halves:

- `JournalTap` sits between the partition processor and the store for one command: it
  sees every journal entry the command appends, whichever engine code appended it, and
  turns the notifications among them into `NotificationCommitted` effects. Effects run
  only after the commit, so nothing uncommitted reaches a handler.
- `Mailboxes` routes those effects to the running attempt. A mailbox is registered
  synchronously when the `StartAttempt` effect runs, i.e. before any effect of a later
  transaction: nothing committed after the snapshot can slip past it. Entries that are
  already in the snapshot (index below its `known_entries`) or meant for another attempt
  are dropped; the next attempt's replay carries them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import HEADER_SIZE, decode_header
from perdure.protocol.messages import MessageType
from perdure.server.commands import NotificationCommitted, Outcome
from perdure.server.lifecycle import InvocationStatus
from perdure.store.api import JournalEntryRow, WriteTxn

_NOTIFICATION_MIN = 0x8000  # notification types are 0x8000 and up (signals 0xFBFF)


class _TappedTxn:
    """Delegates everything to the real transaction, recording journal appends."""

    def __init__(self, inner: WriteTxn, appended: list[JournalEntryRow]) -> None:
        self._inner = inner
        self._appended = appended

    def append_entry(self, row: JournalEntryRow) -> None:
        self._inner.append_entry(row)
        self._appended.append(row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class JournalTap:
    """Records what one command appends; `emit` adds the live-notification effects."""

    def __init__(self, txn: WriteTxn) -> None:
        self._appended: list[JournalEntryRow] = []
        self.txn = cast(WriteTxn, _TappedTxn(txn, self._appended))
        self._inner = txn

    def emit(self, outcome: Outcome) -> None:
        """Call at the end of the command, inside its transaction.

        The status is read now, not at append time: an entry appended before a new
        attempt began in this same command is inside that attempt's snapshot and the
        invoker drops it by index.
        """
        running: dict[str, int | None] = {}
        for entry in self._appended:
            if entry.type < _NOTIFICATION_MIN:
                continue
            if entry.invocation_id not in running:
                row = self._inner.get_invocation(entry.invocation_id)
                alive = row is not None and row.status == InvocationStatus.RUNNING.value
                running[entry.invocation_id] = row.attempt if alive and row else None
            attempt = running[entry.invocation_id]
            if attempt is not None:
                outcome.effects.append(
                    NotificationCommitted(
                        entry.invocation_id, attempt, entry.index, entry.type, entry.payload
                    )
                )


def known_entries(body: bytes) -> int:
    """`known_entries` of the StartMessage that opens an attempt body."""
    message_type, _, length = decode_header(body[:HEADER_SIZE])
    if message_type != MessageType.START:
        raise ValueError("an attempt body must start with a StartMessage")
    start = pb.StartMessage()
    start.ParseFromString(body[HEADER_SIZE : HEADER_SIZE + length])
    return int(start.known_entries)


@dataclass(eq=False)
class Mailbox:
    """Notifications for one running bidi attempt, in journal order."""

    invocation_id: str
    attempt: int
    next_index: int  # the first journal index not in the attempt's snapshot
    queue: asyncio.Queue[NotificationCommitted] = field(default_factory=asyncio.Queue)
    closed: bool = False


class Mailboxes:
    def __init__(self) -> None:
        self._by_invocation: dict[str, Mailbox] = {}

    def open(self, invocation_id: str, attempt: int, snapshot_length: int) -> Mailbox:
        old = self._by_invocation.get(invocation_id)
        if old is not None:
            old.closed = True  # a newer attempt began: the old one is stale
        mailbox = Mailbox(invocation_id, attempt, snapshot_length)
        self._by_invocation[invocation_id] = mailbox
        return mailbox

    def close(self, mailbox: Mailbox) -> None:
        mailbox.closed = True
        if self._by_invocation.get(mailbox.invocation_id) is mailbox:
            del self._by_invocation[mailbox.invocation_id]

    def deliver(self, effect: NotificationCommitted) -> bool:
        """Queue `effect` for its attempt; False when nobody takes it (it stays in the
        journal and reaches the handler by replay)."""
        mailbox = self._by_invocation.get(effect.invocation_id)
        if mailbox is None or mailbox.closed or mailbox.attempt != effect.attempt:
            return False
        if effect.index < mailbox.next_index:
            return False  # inside the snapshot, or already queued
        mailbox.next_index = effect.index + 1
        mailbox.queue.put_nowait(effect)
        return True
