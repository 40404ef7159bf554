"""Errors of the wire-protocol layer.

ProtocolError          anything malformed on the wire
└── UnknownMessageType a frame whose type code we do not know
"""

from __future__ import annotations

# Restate's error codes for failures of the protocol itself (as opposed to a handler's).
JOURNAL_MISMATCH = 570  # a replayed command differs from the journaled one
PROTOCOL_VIOLATION = 571  # a message out of place, malformed, or not allowed here
UNSUPPORTED_FEATURE = 573  # allowed by the protocol, not (yet) by this peer


class ProtocolError(Exception):
    """Bytes that do not form a valid protocol message."""


class UnknownMessageType(ProtocolError):
    """A frame carries a type code that this version of the protocol does not define."""

    def __init__(self, code: int) -> None:
        super().__init__(f"unknown message type {code:#06x}")
        self.code = code
