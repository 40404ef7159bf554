"""The engine's refusals: one root, a stable code per kind, a message that says what to do.

    EngineError                 the engine refused a command; nothing of it was stored
    ├── NotFound                "not_found": no such service, handler or invocation
    ├── Conflict                "conflict": the invocation's status does not allow it
    │   └── NotStarted          "not_started": it has not started yet (resume)
    ├── InvalidRequest          "invalid": the command itself is malformed
    └── AttemptFailure          internal: the attempt's message is refused, it is retried

Raised inside a command's transaction, before it wrote anything (the processor rolls the
command back either way). The engine knows nothing of HTTP: ingress and admin map these to
status codes (`perdure.server.admin.errors`, `perdure.server.ingress.responses`).
"""

from __future__ import annotations

from typing import ClassVar

from perdure.server.errors import ServerError


class EngineError(ServerError):
    """`reason` names the refusal within its kind (e.g. Conflict "completed" or
    "not_running"), so the APIs can word it as restate does."""

    code: ClassVar[str] = "engine"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class NotFound(EngineError, LookupError):
    code = "not_found"


class Conflict(EngineError):
    code = "conflict"


class NotStarted(Conflict):
    code = "not_started"


class InvalidRequest(EngineError, ValueError):
    code = "invalid"


class Unsupported(EngineError):
    """A command this engine cannot run in its configuration (a feature not built for
    cluster mode yet)."""

    code = "unsupported"


class AttemptFailure(EngineError):
    """A message of an attempt is refused: the attempt ends and is retried, and nothing of
    that message is stored. Never leaves the engine (`frames.apply_sdk_frames`)."""

    code = "attempt_failed"

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code  # restate's code for the failure (571, 500, …)
