"""Message framing: an 8-byte big-endian header in front of every protobuf payload.

Header layout (bits, most significant first)::

    63..48  message type (u16)
    47      REQUESTED_ACK flag
    46..32  reserved flags, zero
    31..0   payload length (u32)

`FrameDecoder` is a streaming decoder: feed it byte chunks as they arrive, take whole
frames out. It never blocks and never does I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from perdure.protocol.errors import ProtocolError

HEADER_SIZE = 8
REQUESTED_ACK = 0x8000
MAX_FRAME_SIZE = 0xFFFFFFFF

_HEADER = struct.Struct(">HHI")


@dataclass(frozen=True, slots=True)
class Frame:
    """One framed message, still undecoded."""

    type: int
    flags: int
    payload: bytes

    @property
    def requested_ack(self) -> bool:
        return bool(self.flags & REQUESTED_ACK)


def encode_frame(message_type: int, payload: bytes, flags: int = 0) -> bytes:
    """Put the 8-byte header in front of `payload`."""
    if len(payload) > MAX_FRAME_SIZE:
        raise ProtocolError(f"payload of {len(payload)} bytes does not fit a frame")
    return _HEADER.pack(message_type, flags, len(payload)) + payload


def decode_header(header: bytes) -> tuple[int, int, int]:
    """Return (type, flags, length) of an 8-byte header."""
    message_type, flags, length = _HEADER.unpack(header)
    return message_type, flags, length


class FrameDecoder:
    """Incremental decoder: `feed(chunk)` then iterate `frames()`.

    `max_frame_size` bounds the payload a peer may announce; a bigger one is a
    protocol error raised before any of it is buffered.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._max_frame_size = max_frame_size

    def feed(self, chunk: bytes) -> list[Frame]:
        """Add bytes; return every frame that is now complete, in order."""
        out: list[Frame] = []
        self._feed_into(chunk, out)
        return out

    def feed_until_error(self, chunk: bytes) -> tuple[list[Frame], ProtocolError | None]:
        """Like `feed`, but a bad header does not swallow the whole frames before it: they
        come back with the error (after which the decoder must not be fed again)."""
        out: list[Frame] = []
        try:
            self._feed_into(chunk, out)
        except ProtocolError as exc:
            return out, exc
        return out, None

    def _feed_into(self, chunk: bytes, out: list[Frame]) -> None:
        self._buffer += chunk
        while len(self._buffer) >= HEADER_SIZE:
            message_type, flags, length = _HEADER.unpack_from(self._buffer)
            if length > self._max_frame_size:
                raise ProtocolError(
                    f"frame of type {message_type:#06x} announces {length} bytes, "
                    f"over the limit of {self._max_frame_size}"
                )
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            out.append(Frame(message_type, flags, bytes(self._buffer[HEADER_SIZE:end])))
            del self._buffer[:end]

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole frame."""
        return len(self._buffer)
