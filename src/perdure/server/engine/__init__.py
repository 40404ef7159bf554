"""The invocation engine, split by topic; everything runs inside one write transaction.

`core` holds the invocation lifecycle (create, attempts, retries, completion, timers);
`promises`, `signals`, `attach`, `control` (cancel, kill, purge, pause, resume) and
`retention` add one topic each on top of it.
"""

from __future__ import annotations

from perdure.server.engine.core import Engine, NotFoundError

__all__ = ["Engine", "NotFoundError"]
