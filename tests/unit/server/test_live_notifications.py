"""Live notifications: which committed entries reach which streaming attempt (the engine's
`EngineTxn.finish` and the invoker's mailboxes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import cast

from perdure.protocol.messages import MessageType
from perdure.server.config import ServerConfig
from perdure.server.engine import InvocationStatus, NotificationCommitted
from perdure.server.engine.txn import EngineTxn
from perdure.server.invoker.mailboxes import Mailboxes
from perdure.store.api import InvocationRow, JournalEntryRow, WriteTxn


@dataclass
class FakeTxn:
    rows: dict[str, InvocationRow]
    journal: list[JournalEntryRow] = field(default_factory=list)

    def append_entry(self, row: JournalEntryRow) -> None:
        self.journal.append(row)

    def get_invocation(self, invocation_id: str) -> InvocationRow | None:
        return self.rows.get(invocation_id)

    def put_invocation(self, row: InvocationRow) -> None:
        self.rows[row.id] = row


def _row(invocation_id: str, status: InvocationStatus, attempt: int, length: int) -> InvocationRow:
    return InvocationRow(
        invocation_id,
        "S",
        "h",
        None,
        "SERVICE",
        None,
        status,
        0,
        0,
        attempt=attempt,
        journal_length=length,
    )


def test_finish_emits_notifications_of_running_invocations_only() -> None:
    running = _row("run", InvocationStatus.RUNNING, 3, 4)
    suspended = _row("sus", InvocationStatus.SUSPENDED, 2, 7)
    fake = FakeTxn({"run": running, "sus": suspended})
    tx = EngineTxn(cast(WriteTxn, fake), ServerConfig(), now=0)
    running = tx.append(running, MessageType.RUN, b"p4")  # a command: never forwarded
    running = tx.append(running, MessageType.RUN_COMPLETION, b"p5")
    tx.append(suspended, MessageType.SLEEP_COMPLETION, b"p7")  # resumed by replay
    tx.append(running, MessageType.SIGNAL, b"p6")
    assert [(e.invocation_id, e.index) for e in fake.journal] == [
        ("run", 4),
        ("run", 5),
        ("sus", 7),
        ("run", 6),
    ]
    assert tx.finish() == [
        NotificationCommitted("run", 3, 5, MessageType.RUN_COMPLETION, b"p5"),
        NotificationCommitted("run", 3, 6, MessageType.SIGNAL, b"p6"),
    ]


def test_finish_reads_the_status_at_the_end_of_the_command() -> None:
    row = _row("inv", InvocationStatus.SUSPENDED, 2, 3)
    fake = FakeTxn({"inv": row})
    tx = EngineTxn(cast(WriteTxn, fake), ServerConfig(), now=0)
    row = tx.append(row, MessageType.SLEEP_COMPLETION, b"x")
    # A new attempt starts later in the same command: the entry is in its replay; the
    # effect names the attempt running at the end, and its mailbox drops it by index.
    tx.put(replace(row, status=InvocationStatus.RUNNING, attempt=3))
    assert [(e.attempt, e.index) for e in tx.finish()] == [(3, 3)]
    assert fake.rows["inv"].attempt == 3


def test_mailbox_takes_only_what_its_replay_lacks_in_order() -> None:
    boxes = Mailboxes()
    box = boxes.open("inv", attempt=2, replay_length=5)
    assert not boxes.deliver(NotificationCommitted("inv", 2, 4, 0x8001, b""))  # in replay
    assert not boxes.deliver(NotificationCommitted("inv", 1, 6, 0x8001, b""))  # old attempt
    assert not boxes.deliver(NotificationCommitted("other", 2, 6, 0x8001, b""))
    assert boxes.deliver(NotificationCommitted("inv", 2, 5, 0x8001, b"a"))
    assert boxes.deliver(NotificationCommitted("inv", 2, 8, 0x8001, b"b"))
    assert not boxes.deliver(NotificationCommitted("inv", 2, 8, 0x8001, b"b"))  # duplicate
    assert [effect.payload for effect in box.take()] == [b"a", b"b"]
    newer = boxes.open("inv", attempt=3, replay_length=9)
    assert box.closed
    assert not boxes.deliver(NotificationCommitted("inv", 2, 9, 0x8001, b""))
    assert boxes.deliver(NotificationCommitted("inv", 3, 9, 0x8001, b""))
    boxes.close(box)  # closing a stale mailbox leaves the current one registered
    assert boxes.deliver(NotificationCommitted("inv", 3, 10, 0x8001, b""))
    boxes.close(newer)
    assert not boxes.deliver(NotificationCommitted("inv", 3, 11, 0x8001, b""))
