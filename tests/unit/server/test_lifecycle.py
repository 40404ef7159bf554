from __future__ import annotations

import pytest

from perdure.server.lifecycle import (
    INITIAL,
    TRANSITIONS,
    IllegalTransition,
    InvocationStatus as S,
    check_transition,
)


def test_every_status_has_a_row_and_completed_is_final() -> None:
    assert set(TRANSITIONS) == set(S)
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert {S.READY} == INITIAL


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (None, S.READY),
        (S.READY, S.PENDING),
        (S.PENDING, S.RUNNING),
        (S.RUNNING, S.RUNNING),  # suspension raced with a stored notification
        (S.RUNNING, S.SUSPENDED),
        (S.SUSPENDED, S.RUNNING),
        (S.RUNNING, S.BACKING_OFF),
        (S.BACKING_OFF, S.RUNNING),
        (S.RUNNING, S.PAUSED),
        (S.SUSPENDED, S.PAUSED),  # paused by an operator
        (S.SCHEDULED, S.READY),
        (S.RUNNING, S.COMPLETED),
    ],
)
def test_allowed(current: S | None, new: S) -> None:
    assert check_transition(current, new) == new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (None, S.RUNNING),
        (S.COMPLETED, S.RUNNING),
        (S.SUSPENDED, S.BACKING_OFF),
        (S.PENDING, S.SUSPENDED),
        (S.BACKING_OFF, S.SUSPENDED),
    ],
)
def test_refused_with_both_names(current: S | None, new: S) -> None:
    with pytest.raises(IllegalTransition, match=new.value):
        check_transition(current, new)
