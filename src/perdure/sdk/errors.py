"""Errors a handler raises or sees.

TerminalError            fails the invocation for good: no retry
RetryableError           fails this attempt; retried (after `retry_after` if given)
SdkInternalBaseException control flow of the SDK (BaseException: `except Exception` skips it)
├── SuspendedException   the attempt suspends; the server resumes it later
└── AttemptFinished      the attempt is over (protocol error, closed stream)
"""

from __future__ import annotations

from datetime import timedelta


class TerminalError(Exception):
    """An error that completes the invocation with a failure instead of retrying it.

    `status_code` becomes the HTTP status the ingress caller sees (500 by default);
    `metadata` travels with the failure (protocol V6+).
    """

    def __init__(
        self,
        message: str = "Internal Server Error",
        status_code: int = 500,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.metadata = dict(metadata) if metadata else None

    def __repr__(self) -> str:
        return f"TerminalError({self.message!r}, status_code={self.status_code})"


class RetryableError(Exception):
    """An error that fails this attempt; the invocation is retried.

    `retry_after` overrides the retry policy's delay for the next attempt only.
    """

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


class SdkInternalBaseException(BaseException):
    """Control flow of the SDK. Do not catch it.

    If you see this in a `except BaseException:` or bare `except:` block, re-raise it
    (use `perdure.is_internal_exception(e)` to tell), or the invocation cannot suspend.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Internal perdure control flow exception. Re-raise it: catching it breaks "
            "suspension and replay. Use `except Exception:` instead of a bare `except:`."
        )


class SuspendedException(SdkInternalBaseException):
    """Raised into the handler when the attempt suspends."""


class AttemptFinished(SdkInternalBaseException):
    """Raised into the handler when the attempt ends before it returned."""


def is_internal_exception(e: BaseException) -> bool:
    """True for SDK control flow exceptions that user code must re-raise."""
    return isinstance(e, SdkInternalBaseException)
