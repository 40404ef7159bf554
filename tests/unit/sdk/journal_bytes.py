"""Byte fixtures for the journal machine: frames the server would send, and decoding of ours."""

from __future__ import annotations

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import FrameDecoder
from perdure.protocol.messages import MessageType, decode_message, encode_message

RAW_ID = bytes(range(24))


def start(
    known_entries: int,
    *,
    state: dict[str, bytes] | None = None,
    partial: bool = True,
    key: str = "",
    seed: int = 0,
    retry_count: int = 0,
    duration_ms: int = 0,
) -> bytes:
    message = pb.StartMessage(
        id=RAW_ID,
        debug_id="inv_1test",
        known_entries=known_entries,
        partial_state=partial,
        key=key,
        random_seed=seed,
        retry_count_since_last_stored_entry=retry_count,
        duration_since_last_stored_entry=duration_ms,
    )
    for k, v in (state or {}).items():
        message.state_map.add(key=k.encode(), value=v)
    return encode_message(message)


def input_cmd(body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    message = pb.InputCommandMessage(value=pb.Value(content=body))
    for k, v in (headers or {}).items():
        message.headers.add(key=k, value=v)
    return encode_message(message)


def cmd(message: Message) -> bytes:
    return encode_message(message)


def completion(
    message_type: MessageType,
    completion_id: int,
    *,
    value: bytes | None = None,
    failure: tuple[int, str] | None = None,
    invocation_id: str | None = None,
    keys: list[str] | None = None,
) -> bytes:
    message = pb.NotificationTemplate(completion_id=completion_id)
    _fill(message, value, failure, invocation_id, keys)
    return encode_message(message, message_type)


def signal(
    index: int, *, value: bytes | None = None, failure: tuple[int, str] | None = None
) -> bytes:
    message = pb.NotificationTemplate(signal_id=index)
    _fill(message, value, failure, None, None)
    return encode_message(message, MessageType.SIGNAL)


def _fill(
    message: pb.NotificationTemplate,
    value: bytes | None,
    failure: tuple[int, str] | None,
    invocation_id: str | None,
    keys: list[str] | None,
) -> None:
    if value is not None:
        message.value.content = value
    elif failure is not None:
        message.failure.code, message.failure.message = failure
    elif invocation_id is not None:
        message.invocation_id = invocation_id
    elif keys is not None:
        message.state_keys.SetInParent()
        message.state_keys.keys.extend(k.encode() for k in keys)
    else:
        message.void.SetInParent()


def decode_all(data: bytes) -> list[tuple[MessageType, Message]]:
    frames = FrameDecoder().feed(data)
    assert all(f.flags == 0 for f in frames), "we never set header flags"
    return [decode_message(f) for f in frames]


def types_of(data: bytes) -> list[MessageType]:
    return [t for t, _ in decode_all(data)]
