"""Test perdure services in-process, on virtual time, and crash them on purpose.

- `Harness(app)`: the server and the app in the test's process on a temporary SQLite
  store with a manual clock; `h.client` is the ingress client, `h.advance(...)` moves
  time, `h.invocation(id)` shows status, journal and state.
- `h.explore_crashes(scenario)`: run a scenario once per journal entry, killing the server
  right after that entry's commit, and report what a crash changes.
- `replay_check`: would the new code of an app replay the journals of the invocations in
  flight (before a deploy)? Also `perdure replay-check`.
- `side_effect(name)`: mark a side effect in a fake the handlers call, to count it.

See docs/testing.md.
"""

from perdure.testing._effects import SideEffect, side_effect
from perdure.testing.harness import START, Harness, RunRepeated
from perdure.testing.views import Failure, InvocationView, JournalEntry

__all__ = [
    "START",
    "Failure",
    "Harness",
    "InvocationView",
    "JournalEntry",
    "RunRepeated",
    "SideEffect",
    "side_effect",
]
