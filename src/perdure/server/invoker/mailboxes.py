"""Live notifications for streaming attempts (protocol reference §6.2).

A streaming attempt gets the journal as it was when its attempt began (its replay), then
every notification committed for its invocation afterwards, in journal order. The engine
emits a `NotificationCommitted` effect for each, after the commit; `Mailboxes` routes it to
the running attempt. A mailbox is opened synchronously when the `StartAttempt` effect runs,
i.e. before any effect of a later transaction: nothing committed after the replay can slip
past it. Entries already in the replay (index below its `known_entries`) or meant for
another attempt are dropped; the next attempt's replay carries them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from perdure.server.engine import NotificationCommitted


@dataclass(eq=False)
class Mailbox:
    """Notifications for one running streaming attempt, in journal order. Its reader takes
    them with `take` and is woken by `on_delivery` (no task waits on a queue)."""

    invocation_id: str
    attempt: int
    next_index: int  # the first journal index not in the attempt's replay
    pending: deque[NotificationCommitted] = field(default_factory=deque)
    on_delivery: Callable[[], None] | None = None
    closed: bool = False

    def put(self, effect: NotificationCommitted) -> None:
        self.pending.append(effect)
        if self.on_delivery is not None:
            self.on_delivery()

    def take(self) -> list[NotificationCommitted]:
        taken = list(self.pending)
        self.pending.clear()
        return taken


class Mailboxes:
    def __init__(self) -> None:
        self._by_invocation: dict[str, Mailbox] = {}

    def open(self, invocation_id: str, attempt: int, replay_length: int) -> Mailbox:
        old = self._by_invocation.get(invocation_id)
        if old is not None:
            old.closed = True  # a newer attempt began: the old one is stale
        mailbox = Mailbox(invocation_id, attempt, replay_length)
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
            return False  # inside the replay, or already queued
        mailbox.next_index = effect.index + 1
        mailbox.put(effect)
        return True
