"""The attempt session, sans-IO: events in, actions out, on a manual clock (no sockets).

Also the driver on a `ManualClock`: timeouts fire when the clock is moved, not after real
waiting, through the in-process transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.messages import MessageType
from perdure.protocol.versions import protocol_content_type
from perdure.server.clock import ManualClock
from perdure.server.engine import AttemptFailed, AttemptPlan, NotificationCommitted, SdkFrames
from perdure.server.invoker.driver import AttemptTransport, run_session
from perdure.server.invoker.in_process import ByteStreams, InProcessTransport
from perdure.server.invoker.mailboxes import Mailbox
from perdure.server.invoker.session import (
    AttemptSession,
    EndInput,
    Fail,
    Finish,
    Phase,
    Send,
    Submit,
)

PLAN = AttemptPlan(
    invocation_id="inv_1",
    attempt=2,
    service="S",
    handler="h",
    key=None,
    deployment_id="dp_1",
    uri="http://x",
    use_http_11=False,
    additional_headers={},
    protocol_version=6,
    body=b"start+journal",
    known_entries=3,
    protocol_mode="BIDI_STREAM",
    inactivity_timeout_ms=10_000,
    abort_timeout_ms=60_000,
)
OK_HEAD = {"content-type": protocol_content_type(6)}
RUN = encode_frame(
    MessageType.RUN, pb.RunCommandMessage(result_completion_id=1).SerializeToString()
)
SUSPEND = encode_frame(
    MessageType.SUSPENSION, pb.SuspensionMessage(waiting_completions=[1]).SerializeToString()
)
END = encode_frame(MessageType.END, b"")


def streaming() -> AttemptSession:
    session = AttemptSession(PLAN, 1 << 20, streaming=True)
    assert session.start(0.0) == [Send(PLAN.body)]
    assert session.head(0.0, 200, OK_HEAD) == []
    return session


def frames_of(action: object) -> list[int]:
    assert isinstance(action, Submit)
    return [f.type for f in action.frames.frames]


def test_a_request_response_attempt_ends_its_body_after_the_journal() -> None:
    session = AttemptSession(PLAN, 1 << 20, streaming=False)
    assert session.start(0.0) == [Send(PLAN.body), EndInput()]
    assert session.phase is Phase.CLOSED
    # Its wait for the deployment is bounded by the abort timeout from the start.
    assert session.deadline() == 60.0


def test_inactivity_ends_the_body_to_ask_for_a_suspension() -> None:
    session = streaming()
    assert session.deadline() == 10.0
    assert session.timer_due(9.9) == []  # early wake-up: nothing expired
    assert session.timer_due(10.0) == [EndInput()]
    assert session.phase is Phase.CLOSED
    # The handler suspends: that batch goes to the engine and the attempt finishes.
    actions = session.received(11.0, SUSPEND)
    assert frames_of(actions[0]) == [MessageType.SUSPENSION]
    assert actions[1:] == [Finish()]
    assert session.deadline() is None


def test_activity_in_either_direction_restarts_the_inactivity_timeout() -> None:
    session = streaming()
    session.received(5.0, RUN)
    assert session.deadline() == 15.0
    note = NotificationCommitted("inv_1", 2, 4, MessageType.RUN_COMPLETION, b"n")
    assert session.notification(12.0, note) == [Send(encode_frame(note.entry_type, b"n"))]
    assert session.deadline() == 22.0


def test_abort_timeout_after_the_body_ended_fails_the_attempt() -> None:
    session = streaming()
    session.timer_due(10.0)  # inactivity: body ended
    assert session.deadline() == 70.0
    [fail] = session.timer_due(70.0)
    assert isinstance(fail, Fail) and "abort timeout" in fail.message
    assert session.timer_due(500.0) == []  # done: nothing more happens


def test_frames_are_batched_per_chunk_up_to_the_first_terminal_message() -> None:
    session = streaming()
    # One frame split across two chunks: nothing to submit until it is whole.
    assert session.received(1.0, RUN[:3]) == []
    [first] = session.received(1.0, RUN[3:] + RUN)
    assert frames_of(first) == [MessageType.RUN, MessageType.RUN]
    assert isinstance(first, Submit)
    assert first.frames == SdkFrames("inv_1", 2, first.frames.frames, known_entries=3)
    # The body is ended before the terminal batch is submitted; what follows End is dropped.
    actions = session.received(2.0, RUN + END + RUN)
    assert actions[0] == EndInput()
    assert frames_of(actions[1]) == [MessageType.RUN, MessageType.END]
    assert actions[2:] == [Finish()]
    assert session.received(3.0, RUN) == []


def test_a_peer_that_stops_reading_fails_the_attempt() -> None:
    session = streaming()
    session.write_started(0.0)  # the journal: inactivity + abort to take it
    assert session.deadline() == 10.0  # the inactivity timeout still applies meanwhile
    assert session.timer_due(10.0) == [EndInput()]  # queued behind the blocked write
    [fail] = session.timer_due(70.0)
    assert isinstance(fail, Fail) and "flow control" in fail.message
    # A later write gets only the abort timeout.
    session = streaming()
    session.write_started(0.0)
    session.write_finished(1.0)
    session.write_started(2.0)
    assert session.deadline() == 11.0
    session.timer_due(11.0)
    [fail] = session.timer_due(62.0)
    assert isinstance(fail, Fail) and "60s (flow control)" in fail.message


def test_a_cancel_mid_attempt_is_forwarded_while_the_body_is_open() -> None:
    session = streaming()
    cancel = pb.NotificationTemplate(signal_id=1)
    cancel.void.SetInParent()
    effect = NotificationCommitted("inv_1", 2, 5, MessageType.SIGNAL, cancel.SerializeToString())
    assert session.notification(1.0, effect) == [
        Send(encode_frame(MessageType.SIGNAL, effect.payload))
    ]
    session.timer_due(11.0)  # body ended
    # Once the body ended, a notification waits in the journal for the next attempt.
    assert session.notification(12.0, effect) == []


@pytest.mark.parametrize(
    ("status", "headers", "needle"),
    [
        (503, {"retry-after": "2"}, "deployment answered HTTP 503: busy"),
        (200, {"content-type": "application/json"}, "expected 'application/vnd.restate"),
        (200, {"content-type": protocol_content_type(5)}, "content-type"),
    ],
)
def test_the_response_head_is_checked(status: int, headers: dict[str, str], needle: str) -> None:
    session = AttemptSession(PLAN, 1 << 20, streaming=True)
    session.start(0.0)
    [fail] = session.head(0.0, status, headers, b"busy")
    assert isinstance(fail, Fail) and needle in fail.message
    if status == 503:
        assert fail.retry_after_ms == 2000


def test_a_response_that_ends_without_a_terminal_message_fails() -> None:
    session = streaming()
    session.received(1.0, RUN)
    [fail] = session.response_ended(2.0)
    assert isinstance(fail, Fail) and "without End, Suspension or Error" in fail.message
    # A frame above the size limit fails the attempt too.
    small = AttemptSession(PLAN, 1, streaming=True)
    small.start(0.0)
    [fail] = small.received(0.0, RUN)
    assert isinstance(fail, Fail)


# ---- the driver runs on the injected clock --------------------------------------------------


async def test_the_driver_times_out_on_the_manual_clock_without_real_waiting() -> None:
    clock = ManualClock()
    received: list[bytes | None] = []
    submitted: list[SdkFrames | AttemptFailed] = []
    got_journal, input_ended = asyncio.Event(), asyncio.Event()

    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        while (chunk := await io.receive()) is not None:
            received.append(chunk)
            got_journal.set()
        received.append(None)
        input_ended.set()
        await asyncio.Event().wait()  # never answers

    plan = replace(PLAN, uri="embedded:///app.py")

    async def open_transport() -> AttemptTransport:
        return InProcessTransport(plan, runner, {})

    async def submit(command: SdkFrames | AttemptFailed) -> None:
        submitted.append(command)

    attempt = asyncio.ensure_future(
        run_session(
            AttemptSession(plan, 1 << 20, streaming=True),
            open_transport,
            clock=clock,
            submit_frames=submit,
            submit_failure=submit,
            mailbox=Mailbox("inv_1", 2, 3),
        )
    )
    # Real time does not matter: only the manual clock moves the attempt on.
    await asyncio.wait_for(got_journal.wait(), timeout=5)
    assert not input_ended.is_set() and not attempt.done()
    clock.advance(10_000)  # inactivity: the input ends
    await asyncio.wait_for(input_ended.wait(), timeout=5)
    assert received == [plan.body, None] and not attempt.done()
    clock.advance(60_000)  # abort timeout
    await asyncio.wait_for(attempt, timeout=5)
    [failed] = submitted
    assert isinstance(failed, AttemptFailed) and "abort timeout" in failed.message
