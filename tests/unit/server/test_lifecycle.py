from __future__ import annotations

import pytest

from perdure.server.engine.lifecycle import (
    TRANSITIONS,
    Event,
    IllegalTransition,
    InvocationStatus as S,
    transition,
)


def test_every_status_appears_and_completed_is_final() -> None:
    reachable = {status for status, _ in TRANSITIONS} | set(TRANSITIONS.values())
    assert reachable == set(S)
    assert not [event for status, event in TRANSITIONS if status == S.COMPLETED]
    # Every invocation starts `ready`: nothing leads back to it but a delay that ended.
    assert [key for key, new in TRANSITIONS.items() if new == S.READY] == [(S.SCHEDULED, Event.DUE)]


@pytest.mark.parametrize(
    ("current", "event", "new"),
    [
        (S.READY, Event.INBOXED, S.PENDING),
        (S.READY, Event.DELAYED, S.SCHEDULED),
        (S.PENDING, Event.ATTEMPT_STARTED, S.RUNNING),
        (S.RUNNING, Event.ATTEMPT_STARTED, S.RUNNING),  # suspension raced a notification
        (S.RUNNING, Event.SUSPENDED, S.SUSPENDED),
        (S.SUSPENDED, Event.ATTEMPT_STARTED, S.RUNNING),
        (S.RUNNING, Event.ATTEMPT_FAILED, S.BACKING_OFF),
        (S.BACKING_OFF, Event.ATTEMPT_STARTED, S.RUNNING),
        (S.RUNNING, Event.RETRIES_EXHAUSTED, S.PAUSED),
        (S.SUSPENDED, Event.PAUSED, S.PAUSED),  # paused by an operator
        (S.PAUSED, Event.ATTEMPT_STARTED, S.RUNNING),  # resumed
        (S.SCHEDULED, Event.DUE, S.READY),
        (S.RUNNING, Event.COMPLETED, S.COMPLETED),
        (S.PENDING, Event.COMPLETED, S.COMPLETED),  # killed or canceled in the inbox
    ],
)
def test_allowed(current: S, event: Event, new: S) -> None:
    assert transition(current, event) == new


@pytest.mark.parametrize(
    ("current", "event"),
    [
        (S.SCHEDULED, Event.ATTEMPT_STARTED),  # must become due first
        (S.COMPLETED, Event.ATTEMPT_STARTED),
        (S.COMPLETED, Event.COMPLETED),
        (S.SUSPENDED, Event.ATTEMPT_FAILED),
        (S.PENDING, Event.SUSPENDED),
        (S.BACKING_OFF, Event.SUSPENDED),
        (S.PENDING, Event.PAUSED),
    ],
)
def test_refused_with_both_names(current: S, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"'{event.value}' in status {current.value}"):
        transition(current, event)
