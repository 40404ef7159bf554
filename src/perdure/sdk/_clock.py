"""Wall time as the SDK reads it (sleep wake-up times, delayed sends, `ctx.time()`).

`time.time()`, unless whoever runs the attempt sets `wall_clock` in its context:
`perdure.testing` runs handlers on its virtual clock, so that a durable sleep of a day
wakes when the test advances time by a day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar

wall_clock: ContextVar[Callable[[], float]] = ContextVar("perdure_wall_clock", default=time.time)


def now() -> float:
    """Seconds since the Unix epoch."""
    return wall_clock.get()()
