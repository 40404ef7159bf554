"""Side effects that handler code marks, so that tests can count them.

A side effect is what a replay must not repeat: an e-mail sent, a card charged. Inside a
`ctx.run` action it runs once per execution of that action (and an action runs again only
if the server never journaled its result); outside one it runs on every replay. The
harness records where each marked side effect happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from perdure.sdk import logging as replay_logging
from perdure.sdk._attempt import in_run_action
from perdure.testing._hosting import AttemptTrace, current_attempt


@dataclass(frozen=True, slots=True)
class SideEffect:
    """One marked side effect. `in_run`: inside a `ctx.run` action; `replaying`: while
    the handler replayed its journal (outside an action, that is a repeated effect)."""

    name: str
    invocation_id: str | None
    in_run: bool
    replaying: bool
    generation: int


def observed(attempt: AttemptTrace | None, name: str, generation: int) -> SideEffect:
    if attempt is None:
        return SideEffect(name, None, False, False, generation)
    return SideEffect(
        name,
        attempt.invocation_id,
        in_run_action.get(),
        replay_logging.is_replaying.get() and not in_run_action.get(),
        attempt.generation,
    )


def side_effect(name: str) -> None:
    """Mark a side effect named `name` of the handler code running now (call it from the
    fakes a test gives the handlers). The harness running the handler counts it; crash
    exploration reports one outside `ctx.run` that a crash makes happen again."""
    attempt = current_attempt.get()
    if attempt is None:
        raise RuntimeError(
            f"side_effect({name!r}) outside a handler run by perdure.testing.Harness; "
            "call Harness.side_effect from test code instead"
        )
    attempt.observer.side_effect_marked(attempt, name)
