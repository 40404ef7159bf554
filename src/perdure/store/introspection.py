"""Values of the introspection views that only exist inside stored protobuf payloads.

Every store's views (`POST /query`, named like restate's system tables) show the same
derived values: an entry's type label, name and JSON, an output's result kind, failure
text and value, lossy UTF-8 of blobs. These functions compute them from the stored bytes,
once, for every store: SQLite calls them as SQL functions, PostgreSQL fills some at write
time and decodes the others after fetching (see `perdure.store.postgres.views`).
Each returns None for a missing or undecodable input, never raises.
"""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType, decode_payload


def output(blob: bytes | None) -> pb.OutputCommandMessage | None:
    if blob is None:
        return None
    message = pb.OutputCommandMessage()
    try:
        message.ParseFromString(bytes(blob))
    except Exception:
        return None
    return message


def output_result(blob: bytes | None) -> str | None:
    """'success' or 'failure' of a stored OutputCommandMessage."""
    message = output(blob)
    if message is None:
        return None
    return "failure" if message.HasField("failure") else "success"


def output_failure(blob: bytes | None) -> str | None:
    """'[code] message' of a failed output."""
    message = output(blob)
    if message is None or not message.HasField("failure"):
        return None
    return f"[{message.failure.code}] {message.failure.message}"


def output_value(blob: bytes | None) -> bytes | None:
    """The value bytes of a successful output."""
    message = output(blob)
    if message is None or not message.HasField("value"):
        return None
    return bytes(message.value.content)


def entry_type(code: int | None) -> str | None:
    """'Command: Run', 'Notification: Call', … (or 'Unknown: 0x…')."""
    if code is None:
        return None
    try:
        return MessageType(code).entry_label
    except ValueError:
        return f"Unknown: 0x{code:04x}"


def _decoded(code: int | None, payload: bytes | None) -> Message | None:
    if code is None or payload is None:
        return None
    try:
        return decode_payload(MessageType(code), bytes(payload))
    except Exception:
        return None


def entry_name(code: int | None, payload: bytes | None) -> str | None:
    """The entry's `name` field, when it has a non-empty one."""
    name = getattr(_decoded(code, payload), "name", None)
    return name if isinstance(name, str) and name else None


def entry_json(code: int | None, payload: bytes | None) -> str | None:
    """The entry as compact protobuf-JSON text."""
    message = _decoded(code, payload)
    if message is None:
        return None
    try:
        data = json_format.MessageToDict(message)
    except Exception:
        return None
    return json.dumps(data, separators=(",", ":"))


def utf8(blob: bytes | str | None) -> str | None:
    """Lossy UTF-8 text of a blob (invalid bytes become U+FFFD)."""
    if blob is None:
        return None
    if isinstance(blob, str):
        return blob
    return bytes(blob).decode("utf-8", errors="replace")
