"""Heartbeats on the sans-IO attempt session (manual times) and in the SDK's attempt: a
heartbeat is activity, never a journal entry; an SDK sends one only when the server said it
understands them (restate-server never does)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.heartbeat import HEARTBEAT_FRAME, HEARTBEAT_HEADER
from perdure.protocol.messages import MessageType
from perdure.protocol.versions import protocol_content_type
from perdure.sdk._attempt import Attempt
from perdure.sdk._core.commands import Machine
from perdure.server.engine import AttemptPlan
from perdure.server.invoker.headers import attempt_headers
from perdure.server.invoker.session import AttemptSession, EndInput, Fail, Phase, Submit

PLAN = AttemptPlan(
    invocation_id="inv_1",
    attempt=1,
    service="S",
    handler="h",
    key=None,
    deployment_id="dp_1",
    uri="http://x",
    use_http_11=False,
    additional_headers={},
    protocol_version=6,
    body=b"start+journal",
    known_entries=2,
    protocol_mode="BIDI_STREAM",
    inactivity_timeout_ms=10_000,
    abort_timeout_ms=30_000,
)
RUN = encode_frame(
    MessageType.RUN, pb.RunCommandMessage(result_completion_id=1).SerializeToString()
)


def started(streaming: bool) -> AttemptSession:
    session = AttemptSession(PLAN, 1 << 20, streaming=streaming)
    session.start(0.0)
    session.head(0.0, 200, {"content-type": protocol_content_type(6)})
    return session


def test_heartbeats_keep_a_request_response_attempt_from_the_abort_timeout() -> None:
    session = started(streaming=False)
    assert session.phase is Phase.CLOSED and session.deadline() == 30.0
    for second in range(20, 200, 20):  # a step far longer than the abort timeout
        assert session.received(float(second), HEARTBEAT_FRAME) == []  # nothing to submit
        assert session.timer_due(float(second)) == []
        assert session.deadline() == second + 30.0
    [fail] = session.timer_due(180.0 + 30.0)  # silent for the abort timeout: aborted
    assert isinstance(fail, Fail) and "abort timeout" in fail.message


def test_heartbeats_keep_a_streaming_attempt_open() -> None:
    session = started(streaming=True)
    for second in (8.0, 16.0, 24.0):
        assert session.received(second, HEARTBEAT_FRAME) == []
        assert session.timer_due(second) == []
    assert session.phase is Phase.OPEN
    assert session.timer_due(34.0) == [EndInput()]  # silent for the inactivity timeout


def test_heartbeats_never_reach_the_engine() -> None:
    session = started(streaming=True)
    [submit] = session.received(1.0, HEARTBEAT_FRAME + RUN + HEARTBEAT_FRAME + RUN)
    assert isinstance(submit, Submit)
    assert [f.type for f in submit.frames.frames] == [MessageType.RUN, MessageType.RUN]


def test_perdure_attempts_offer_heartbeats() -> None:
    assert attempt_headers(PLAN, "c", None)[HEARTBEAT_HEADER] == "1"
    assert HEARTBEAT_HEADER in attempt_headers(replace(PLAN, key="k"), "c", None)


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def receive(self) -> bytes | None:
        return None

    async def send(self, data: bytes) -> None:
        self.sent.append(data)


async def _beats_sent(heartbeats: bool, from_thread: bool) -> list[bytes]:
    sink = Sink()
    attempt = Attempt(Machine(6), sink, heartbeats=heartbeats)
    if from_thread:
        await asyncio.to_thread(attempt.heartbeat)
    else:
        attempt.heartbeat()
    for _ in range(5):  # let the scheduled send run
        await asyncio.sleep(0)
    return sink.sent


async def test_the_sdk_sends_heartbeats_only_when_the_server_offers_them() -> None:
    assert await _beats_sent(heartbeats=True, from_thread=False) == [HEARTBEAT_FRAME]
    assert await _beats_sent(heartbeats=True, from_thread=True) == [HEARTBEAT_FRAME]
    # restate-server sets no such header: nothing it could not decode is sent.
    assert await _beats_sent(heartbeats=False, from_thread=False) == []
    assert await _beats_sent(heartbeats=False, from_thread=True) == []
