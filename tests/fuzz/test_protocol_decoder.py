"""The protocol decoder (perdure.protocol.framing, .messages) on arbitrary bytes: it may refuse
them, but only with a ProtocolError (what the server turns into a failed attempt), never with
anything else, and it never buffers a frame larger than its limit.

PERDURE_FUZZ_EXAMPLES raises the number of cases (the long form: 10000)."""

from __future__ import annotations

import contextlib
import os
import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from perdure.protocol.errors import ProtocolError
from perdure.protocol.framing import HEADER_SIZE, FrameDecoder, encode_frame
from perdure.protocol.messages import MessageType, decode_message, decode_payload, parse_type

EXAMPLES = int(os.environ.get("PERDURE_FUZZ_EXAMPLES", "300"))
LIMIT = 4096
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KNOWN = [int(t) for t in MessageType]


def _decode_all(chunks: list[bytes], limit: int = LIMIT) -> int:
    """Feed `chunks`, decode every frame; the number decoded. Raises only ProtocolError."""
    decoder = FrameDecoder(limit)
    decoded = 0
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            assert len(frame.payload) <= limit
            decode_message(frame)
            decoded += 1
        # Nothing announcing more than the limit is ever buffered beyond its header.
        assert decoder.pending <= HEADER_SIZE + limit
    return decoded


@FUZZ
@given(st.lists(st.binary(max_size=600), max_size=8))
def test_arbitrary_bytes_raise_only_protocol_errors(chunks: list[bytes]) -> None:
    with contextlib.suppress(ProtocolError):
        _decode_all(chunks)


# Frames with a plausible header (a known or unknown type, any flags, a length that may lie)
# reach the payload decoder far more often than uniform bytes do.
frames = st.builds(
    lambda code, flags, payload, declared: (
        struct.pack(">HHI", code, flags, len(payload) if declared is None else declared) + payload
    ),
    st.one_of(st.sampled_from(KNOWN), st.integers(0, 0xFFFF)),
    st.one_of(st.just(0), st.integers(0, 0xFFFF)),
    st.binary(max_size=300),
    st.one_of(st.none(), st.integers(0, 0xFFFFFFFF)),
)


@FUZZ
@given(st.lists(frames, min_size=1, max_size=6), st.integers(1, 64))
def test_framed_garbage_raises_only_protocol_errors(parts: list[bytes], cut: int) -> None:
    stream = b"".join(parts)
    chunks = [stream[i : i + cut] for i in range(0, len(stream), cut)]
    with contextlib.suppress(ProtocolError):
        _decode_all(chunks)


@FUZZ
@given(st.sampled_from(KNOWN), st.binary(max_size=400))
def test_stored_payloads_of_every_type_raise_only_protocol_errors(
    code: int, payload: bytes
) -> None:
    with contextlib.suppress(ProtocolError):
        decode_payload(MessageType(code), payload)


@FUZZ
@given(st.integers(0, 0xFFFF))
def test_unknown_type_codes_are_protocol_errors(code: int) -> None:
    try:
        assert int(parse_type(code)) == code
    except ProtocolError:
        assert code not in KNOWN


def test_a_huge_declared_length_is_refused_before_the_payload_arrives() -> None:
    decoder = FrameDecoder(LIMIT)
    header = struct.pack(">HHI", int(MessageType.OUTPUT), 0, 0xFFFFFFFF)
    try:
        decoder.feed(header)
    except ProtocolError as exc:
        assert "over the limit" in str(exc)
    else:
        raise AssertionError("a frame announcing 4 GiB was accepted")


def test_valid_frames_still_decode() -> None:
    # The properties above would hold for a decoder that refuses everything.
    stream = encode_frame(int(MessageType.END), b"") + encode_frame(int(MessageType.OUTPUT), b"")
    assert _decode_all([stream[:3], stream[3:]]) == 2
