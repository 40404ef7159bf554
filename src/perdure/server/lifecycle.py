"""Invocation lifecycle: every status and every allowed transition, in this one file.

Theory of operation. A new invocation becomes `pending` (an exclusive handler whose key is
locked waits in the key's FIFO inbox), `scheduled` (a delayed send waits for its timer) or
directly `running`. `running` means an attempt was started: the invoker is (or, after a
crash, will again be) driving the handler. An attempt ends in one of three ways:

- End: the invocation is `completed` with its Output (a value or a terminal failure);
- Suspension: `suspended` until one awaited notification is committed (or at once, if one
  already is), then `running` with a new attempt;
- Error or a transport failure: `backing-off` until the retry timer fires, then `running`;
  when the retry policy is exhausted, `paused` (or `completed` with the failure on kill).

An operator may pause a running, backing-off or suspended invocation and resume a paused,
suspended or backing-off one (a new attempt now); kill and cancel complete an invocation
from any status but `completed`.

Every invocation is created `ready` (stored, no attempt yet) and moves on in the same
transaction. Starting a new attempt while `running` (running -> running) happens
when a suspension races with an already stored notification. `completed` is final.
"""

from __future__ import annotations

import enum


class InvocationStatus(enum.StrEnum):
    PENDING = "pending"  # inboxed behind the key's lock
    SCHEDULED = "scheduled"  # delayed send, waits for its timer
    READY = "ready"  # accepted, no attempt started yet
    RUNNING = "running"  # an attempt is in flight
    BACKING_OFF = "backing-off"  # last attempt failed, retry timer armed
    SUSPENDED = "suspended"  # waits for a notification
    PAUSED = "paused"  # retries exhausted; needs an operator
    COMPLETED = "completed"  # result stored; final


S = InvocationStatus

TRANSITIONS: dict[InvocationStatus, frozenset[InvocationStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.COMPLETED}),
    S.SCHEDULED: frozenset({S.READY, S.PENDING, S.RUNNING, S.COMPLETED}),
    S.READY: frozenset({S.SCHEDULED, S.RUNNING, S.PENDING, S.COMPLETED}),
    S.RUNNING: frozenset({S.RUNNING, S.SUSPENDED, S.BACKING_OFF, S.PAUSED, S.COMPLETED}),
    S.BACKING_OFF: frozenset({S.RUNNING, S.PAUSED, S.COMPLETED}),
    S.SUSPENDED: frozenset({S.RUNNING, S.PAUSED, S.COMPLETED}),
    S.PAUSED: frozenset({S.RUNNING, S.COMPLETED}),
    S.COMPLETED: frozenset(),
}

INITIAL: frozenset[InvocationStatus] = frozenset({S.READY})


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow; always a bug in the engine."""

    def __init__(self, current: InvocationStatus | None, new: InvocationStatus) -> None:
        source = "new" if current is None else current.value
        super().__init__(f"illegal invocation status transition {source} -> {new.value}")
        self.current = current
        self.new = new


def check_transition(current: InvocationStatus | None, new: InvocationStatus) -> InvocationStatus:
    """Return `new` if moving from `current` (None: creation) to it is allowed."""
    allowed = INITIAL if current is None else TRANSITIONS[current]
    if new not in allowed:
        raise IllegalTransition(current, new)
    return new
