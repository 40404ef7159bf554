"""Invocation lifecycle: every status change is an event, looked up in one table.

Theory of operation. A new invocation is stored `ready` (no attempt yet) and moves on in the
same transaction: `scheduled` (a delayed send waits for its timer), `pending` (an exclusive
handler whose key is locked waits in the key's FIFO inbox) or `running` (an attempt was
started: the invoker is, or after a crash will again be, driving the handler). An attempt
ends in one of three ways:

- End: `completed` with its Output (a value or a terminal failure);
- Suspension: `suspended` until an awaited notification is committed, then `running` again
  with a new attempt;
- Error or a transport failure: `backing-off` until the retry timer fires, then `running`;
  when the retry policy is exhausted, `paused` (or `completed` with the failure on kill).

Flow control (`flow_gate`): an invocation about to start its first attempt whose
concurrency or rate limit is used up is `limited` instead of `running`; it waits in its
limit's queue (highest priority first) and starts when a slot or a token is free.

An operator pauses a running, backing-off or suspended invocation and resumes a paused,
suspended or backing-off one (a new attempt now). Kill and cancel complete an invocation
from any status but `completed`, which is final. A new attempt while `running` (running ->
running) happens when a suspension races with an already stored notification.

`transition(status, event)` is the only place that decides the next status (in the style
of h11's state machine): anything not in `TRANSITIONS` raises `IllegalTransition` naming
both states and the event, because it is always a bug in the engine.
"""

from __future__ import annotations

import enum

from perdure.store.api import InvocationStatus

__all__ = ["TRANSITIONS", "Event", "IllegalTransition", "InvocationStatus", "transition"]

S = InvocationStatus


class Event(enum.Enum):
    DELAYED = "delayed"  # accepted with a future execution time
    DUE = "due"  # the delay elapsed
    INBOXED = "inboxed"  # the key's lock is held by another invocation
    ATTEMPT_STARTED = "attempt started"
    SUSPENDED = "suspended"  # the attempt ended with a Suspension
    ATTEMPT_FAILED = "attempt failed"  # retried after a backoff
    RETRIES_EXHAUSTED = "retries exhausted"  # paused, waits for an operator
    PAUSED = "paused"  # by an operator
    COMPLETED = "completed"  # End, kill, or cancel before it started
    LIMITED = "limited"  # a concurrency or rate limit is used up: queued behind it


_NOT_DONE = (
    S.PENDING,
    S.SCHEDULED,
    S.READY,
    S.RUNNING,
    S.BACKING_OFF,
    S.SUSPENDED,
    S.PAUSED,
    S.LIMITED,
)

TRANSITIONS: dict[tuple[InvocationStatus, Event], InvocationStatus] = {
    (S.READY, Event.DELAYED): S.SCHEDULED,
    (S.SCHEDULED, Event.DUE): S.READY,
    (S.READY, Event.INBOXED): S.PENDING,
    (S.READY, Event.LIMITED): S.LIMITED,
    (S.PENDING, Event.LIMITED): S.LIMITED,  # got the key's lock, not yet a slot
    **{
        (status, Event.ATTEMPT_STARTED): S.RUNNING
        for status in (
            S.READY,
            S.PENDING,
            S.RUNNING,
            S.BACKING_OFF,
            S.SUSPENDED,
            S.PAUSED,
            S.LIMITED,
        )
    },
    (S.RUNNING, Event.SUSPENDED): S.SUSPENDED,
    (S.RUNNING, Event.ATTEMPT_FAILED): S.BACKING_OFF,
    (S.RUNNING, Event.RETRIES_EXHAUSTED): S.PAUSED,
    **{(status, Event.PAUSED): S.PAUSED for status in (S.RUNNING, S.BACKING_OFF, S.SUSPENDED)},
    **{(status, Event.COMPLETED): S.COMPLETED for status in _NOT_DONE},
}


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow; always a bug in the engine."""

    def __init__(self, status: InvocationStatus, event: Event) -> None:
        super().__init__(f"illegal invocation transition: '{event.value}' in status {status}")
        self.status = status
        self.event = event


def transition(status: InvocationStatus, event: Event) -> InvocationStatus:
    """The status after `event` happens to an invocation in `status`."""
    try:
        return TRANSITIONS[status, event]
    except KeyError:
        raise IllegalTransition(status, event) from None
