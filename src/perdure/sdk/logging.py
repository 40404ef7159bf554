"""Replay-aware logging: a handler's log lines appear once, not once per replay.

While the journal machine replays, `is_replaying` is set (per task, as a ContextVar) and
`RestateLoggingFilter` drops records; it passes them again once the handler runs new code.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

is_replaying: ContextVar[bool] = ContextVar("perdure_is_replaying", default=False)
"""True while the current handler task replays journaled code."""


class RestateLoggingFilter(logging.Filter):
    """Drops log records emitted while the handler is replaying."""

    def filter(self, record: logging.LogRecord) -> bool:
        return super().filter(record) and not is_replaying.get()


def getLogger(name: str | None = None) -> logging.Logger:
    """`logging.getLogger(name)` with a `RestateLoggingFilter` attached (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(RestateLoggingFilter())
    return logger
