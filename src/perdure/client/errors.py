"""The client's exceptions: one root, `IngressError`, for every way a request can fail.

    IngressError            the ingress answered with an error, or could not be reached
    ├── NotReadyError       470: the invocation exists but has not completed (output peek)
    └── IngressUnreachable  no HTTP response at all (connection refused, timeout, ...)

A handler that failed terminally (``raise TerminalError("nope", status_code=409)``) reaches
the caller as an IngressError with ``source == "invocation"``, ``status``/``code`` 409 and
``message`` "nope". Errors of the ingress itself (unknown service, bad input, ...) have
``source == "ingress"``. Servers before restate 1.7.4 do not say which; then ``source`` is
None.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx

ErrorSource = Literal["ingress", "invocation"]

NOT_READY_STATUS = 470


class IngressError(Exception):
    """A request to the ingress failed.

    Attributes:
        status: The HTTP status (None when no response came).
        code: The error code in the body (the handler's status code for invocation
            failures), or None when the body had none.
        message: What went wrong, from the body (or the HTTP reason when it had none).
        metadata: The failure's metadata (``TerminalError(metadata=...)``), else empty.
        source: "invocation" (the handler failed), "ingress" (the request was refused),
            or None when the server did not say.
        invocation_id: The ``x-restate-id`` of the response, when it had one.
        stacktrace: The handler's stack trace, when the server passed it on.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        metadata: dict[str, str] | None = None,
        source: ErrorSource | None = None,
        invocation_id: str | None = None,
        stacktrace: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.metadata: dict[str, str] = dict(metadata or {})
        self.source: ErrorSource | None = source
        self.invocation_id = invocation_id
        self.stacktrace = stacktrace

    @property
    def is_invocation_failure(self) -> bool:
        """True when the handler itself failed (a terminal error), not the request."""
        return self.source == "invocation"

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status}, code={self.code}, "
            f"source={self.source!r}, metadata={self.metadata!r})"
        )


class NotReadyError(IngressError):
    """The invocation exists but has not completed yet (HTTP 470): only ``output()``
    peeks see this, as ``Output.ready == False``; reading ``Output.value`` raises it."""


class IngressUnreachable(IngressError):
    """No response: the ingress could not be reached or did not answer in time."""


def error_from_response(response: httpx.Response) -> IngressError:
    """The IngressError a non-2xx response stands for.

    The body is ``{"code", "message", "metadata"?, "stacktrace"?, "source"?}`` on
    restate 1.7.4+ and perdure; older servers send ``{"message"}`` for ingress errors.
    Anything else (a proxy's HTML page, say) keeps the raw text as the message.
    """
    body = _json_object(response)
    source = body.get("source") or response.headers.get("x-restate-error-source")
    message = body.get("message")
    if not isinstance(message, str):
        message = response.text.strip() or response.reason_phrase or "request failed"
    code = body.get("code")
    metadata = body.get("metadata")
    stacktrace = body.get("stacktrace")
    cls = NotReadyError if response.status_code == NOT_READY_STATUS else IngressError
    return cls(
        message,
        status=response.status_code,
        code=code if isinstance(code, int) else None,
        metadata=(
            {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else None
        ),
        source=source if source in ("ingress", "invocation") else None,
        invocation_id=response.headers.get("x-restate-id"),
        stacktrace=stacktrace if isinstance(stacktrace, str) else None,
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
