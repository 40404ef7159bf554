from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import ProtocolError, UnknownMessageType
from perdure.protocol.framing import REQUESTED_ACK, Frame, FrameDecoder, encode_frame
from perdure.protocol.messages import (
    MessageType,
    decode_message,
    encode_message,
    message_type_of,
)


def test_header_layout_matches_the_spec() -> None:
    # type 0x040C, flags 0, length 3: 04 0c 00 00 00 00 00 03
    assert encode_frame(0x040C, b"abc") == bytes.fromhex("040c000000000003") + b"abc"
    assert encode_frame(0x0005, b"", REQUESTED_ACK)[:8] == bytes.fromhex("0005800000000000")


def test_empty_void_is_emitted_on_notifications() -> None:
    # A sleep completion must carry an explicit empty Void: 08 01 22 00.
    note = pb.NotificationTemplate(completion_id=1)
    note.void.SetInParent()
    assert note.SerializeToString() == bytes.fromhex("08012200")


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(min_value=1, max_value=64))
def test_decoder_reassembles_frames_split_anywhere(payloads: list[bytes], chunk: int) -> None:
    wire = b"".join(encode_frame(0x0400 + i, p) for i, p in enumerate(payloads))
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for start in range(0, len(wire), chunk):
        frames.extend(decoder.feed(wire[start : start + chunk]))
    assert [f.payload for f in frames] == payloads
    assert [f.type for f in frames] == [0x0400 + i for i in range(len(payloads))]
    assert decoder.pending == 0


def test_decoder_rejects_frames_over_the_limit_before_buffering() -> None:
    decoder = FrameDecoder(max_frame_size=10)
    with pytest.raises(ProtocolError, match="over the limit"):
        decoder.feed(encode_frame(0x0400, b"x" * 11)[:8])


_text = st.text(max_size=20)
_bytes = st.binary(max_size=40)


@st.composite
def commands(
    draw: st.DrawFn,
) -> pb.CallCommandMessage | pb.SetStateCommandMessage | pb.StartMessage:
    kind = draw(st.sampled_from(["call", "set", "start"]))
    if kind == "call":
        msg = pb.CallCommandMessage(
            service_name=draw(_text),
            handler_name=draw(_text),
            parameter=draw(_bytes),
            key=draw(_text),
            invocation_id_notification_idx=draw(st.integers(0, 2**32 - 1)),
            result_completion_id=draw(st.integers(0, 2**32 - 1)),
            name=draw(_text),
        )
        for k, v in draw(st.lists(st.tuples(_text, _text), max_size=3)):
            msg.headers.add(key=k, value=v)
        if draw(st.booleans()):
            msg.idempotency_key = draw(_text)
        return msg
    if kind == "set":
        return pb.SetStateCommandMessage(key=draw(_bytes), value=pb.Value(content=draw(_bytes)))
    start = pb.StartMessage(
        id=draw(st.binary(min_size=24, max_size=24)),
        debug_id=draw(_text),
        known_entries=draw(st.integers(1, 1000)),
        partial_state=draw(st.booleans()),
        key=draw(_text),
        retry_count_since_last_stored_entry=draw(st.integers(0, 100)),
        duration_since_last_stored_entry=draw(st.integers(0, 2**64 - 1)),
        random_seed=draw(st.integers(0, 2**64 - 1)),
    )
    for k, v in draw(st.lists(st.tuples(_bytes, _bytes), max_size=3)):
        start.state_map.add(key=k, value=v)
    return start


@given(commands())
def test_codec_round_trip(message: pb.CallCommandMessage) -> None:
    decoder = FrameDecoder()
    (frame,) = decoder.feed(encode_message(message))
    message_type, decoded = decode_message(frame)
    assert message_type == message_type_of(message)
    assert decoded == message


@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(
        [
            MessageType.RUN_COMPLETION,
            MessageType.CALL_COMPLETION,
            MessageType.SLEEP_COMPLETION,
            MessageType.SIGNAL,
        ]
    ),
    st.binary(max_size=50),
)
def test_notifications_decode_through_the_template(
    completion_id: int, message_type: MessageType, value: bytes
) -> None:
    note = pb.NotificationTemplate(completion_id=completion_id, value=pb.Value(content=value))
    (frame,) = FrameDecoder().feed(encode_message(note, message_type))
    decoded_type, decoded = decode_message(frame)
    assert decoded_type is message_type
    assert decoded == note


def test_unknown_types_and_bad_payloads_are_protocol_errors() -> None:
    with pytest.raises(UnknownMessageType):
        decode_message(Frame(0x0300, 0, b""))
    with pytest.raises(ProtocolError, match="malformed"):
        decode_message(Frame(MessageType.CALL, 0, b"\xff\xff\xff"))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    payload = pb.RunCommandMessage(result_completion_id=3, name="r").SerializeToString()
    payload += bytes.fromhex("b80601")  # field 103, varint 1: unknown to us
    _, decoded = decode_message(Frame(MessageType.RUN, 0, payload))
    assert decoded == pb.RunCommandMessage(result_completion_id=3, name="r")


def test_repeated_uint32_accepts_unpacked_encoding() -> None:
    # waiting_completions [1, 2] written unpacked: 08 01 08 02
    _, decoded = decode_message(Frame(MessageType.SUSPENSION, 0, bytes.fromhex("08010802")))
    assert list(decoded.waiting_completions) == [1, 2]  # type: ignore[attr-defined]
