"""Errors of the wire-protocol layer.

ProtocolError          anything malformed on the wire
└── UnknownMessageType a frame whose type code we do not know
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Bytes that do not form a valid protocol message."""


class UnknownMessageType(ProtocolError):
    """A frame carries a type code that this version of the protocol does not define."""

    def __init__(self, code: int) -> None:
        super().__init__(f"unknown message type {code:#06x}")
        self.code = code
