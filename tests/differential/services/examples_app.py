"""The ASGI app of the example programs: `perdure serve examples_app.py` or hypercorn.

Two deployments in one process: `/` (registered for bidirectional HTTP/2) serves the
programs, `/rr` (registered with `use_http_11`, request-response: every await suspends)
serves the signal handlers.
"""

from __future__ import annotations

from typing import Any

from diff_sdk import restate
from door import door
from payments import accounts, payments
from reminders import reminders
from saga import trips
from signals import notifier, waiter
from workers import workers

_main = restate.app(services=[trips, reminders, door, accounts, payments, workers])
_rr = restate.app(services=[waiter, notifier])
RR_PREFIX = "/rr"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith(RR_PREFIX + "/"):
        await _rr(scope, receive, send)
        return
    await _main(scope, receive, send)
