"""Live notifications: which committed entries reach which bidi attempt (invoker/live.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.messages import MessageType, encode_message
from perdure.server.commands import NotificationCommitted, Outcome
from perdure.server.invoker.live import JournalTap, Mailboxes, known_entries
from perdure.store.api import InvocationRow, JournalEntryRow, WriteTxn


@dataclass
class FakeTxn:
    rows: dict[str, InvocationRow]
    journal: list[JournalEntryRow] = field(default_factory=list)

    def append_entry(self, row: JournalEntryRow) -> None:
        self.journal.append(row)

    def get_invocation(self, invocation_id: str) -> InvocationRow | None:
        return self.rows.get(invocation_id)

    def list_services(self) -> list[str]:
        return ["delegated"]


def _row(invocation_id: str, status: str, attempt: int) -> InvocationRow:
    return InvocationRow(
        invocation_id, "S", "h", None, "SERVICE", None, status, 0, 0, attempt=attempt
    )


def _entry(invocation_id: str, index: int, entry_type: int) -> JournalEntryRow:
    return JournalEntryRow(invocation_id, index, entry_type, b"p%d" % index, 0)


def test_tap_emits_notifications_of_running_invocations_only() -> None:
    fake = FakeTxn({"run": _row("run", "running", 3), "sus": _row("sus", "suspended", 2)})
    tap = JournalTap(cast(WriteTxn, fake))
    tap.txn.append_entry(_entry("run", 4, MessageType.RUN))  # a command: never forwarded
    tap.txn.append_entry(_entry("run", 5, MessageType.RUN_COMPLETION))
    tap.txn.append_entry(_entry("sus", 7, MessageType.SLEEP_COMPLETION))  # resumed by replay
    tap.txn.append_entry(_entry("run", 6, MessageType.SIGNAL))
    assert len(fake.journal) == 4  # every append reached the real transaction
    assert tap.txn.list_services() == ["delegated"]  # everything else is delegated
    outcome = Outcome()
    tap.emit(outcome)
    assert outcome.effects == [
        NotificationCommitted("run", 3, 5, MessageType.RUN_COMPLETION, b"p5"),
        NotificationCommitted("run", 3, 6, MessageType.SIGNAL, b"p6"),
    ]


def test_mailbox_takes_only_what_its_snapshot_lacks_in_order() -> None:
    boxes = Mailboxes()
    box = boxes.open("inv", attempt=2, snapshot_length=5)
    assert not boxes.deliver(NotificationCommitted("inv", 2, 4, 0x8001, b""))  # in snapshot
    assert not boxes.deliver(NotificationCommitted("inv", 1, 6, 0x8001, b""))  # old attempt
    assert not boxes.deliver(NotificationCommitted("other", 2, 6, 0x8001, b""))
    assert boxes.deliver(NotificationCommitted("inv", 2, 5, 0x8001, b"a"))
    assert boxes.deliver(NotificationCommitted("inv", 2, 8, 0x8001, b"b"))
    assert not boxes.deliver(NotificationCommitted("inv", 2, 8, 0x8001, b"b"))  # duplicate
    assert [box.queue.get_nowait().payload for _ in range(2)] == [b"a", b"b"]
    newer = boxes.open("inv", attempt=3, snapshot_length=9)
    assert box.closed
    assert not boxes.deliver(NotificationCommitted("inv", 2, 9, 0x8001, b""))
    assert boxes.deliver(NotificationCommitted("inv", 3, 9, 0x8001, b""))
    boxes.close(box)  # closing a stale mailbox leaves the current one registered
    assert boxes.deliver(NotificationCommitted("inv", 3, 10, 0x8001, b""))
    boxes.close(newer)
    assert not boxes.deliver(NotificationCommitted("inv", 3, 11, 0x8001, b""))


def test_known_entries_is_read_from_the_start_message() -> None:
    body = encode_message(pb.StartMessage(known_entries=7)) + encode_frame(MessageType.INPUT, b"")
    assert known_entries(body) == 7
