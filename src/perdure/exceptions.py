"""Errors, under the module path restate-sdk uses (``from perdure.exceptions import ...``)."""

from __future__ import annotations

from perdure.sdk.errors import (
    RetryableError,
    SdkInternalBaseException,
    SuspendedException,
    TerminalError,
    is_internal_exception,
)

__all__ = [
    "RetryableError",
    "SdkInternalBaseException",
    "SuspendedException",
    "TerminalError",
    "is_internal_exception",
]
