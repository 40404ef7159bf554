"""Regression tests for defects found by review (issue 8): B6 (aborting an attempt still
queued in the invoker), B7 (a timer whose command fails was not re-armed until a restart),
B10 (a finishing streaming attempt could end the request body while a frame was being
sent), and liveness (an attempt whose start raised left its invocation running)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.clock import ManualClock, SystemClock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    AttemptFailed,
    AttemptPlan,
    Effect,
    Engine,
    FireTimer,
    InvocationStatus,
    Invoke,
    NotificationCommitted,
    PartitionProcessor,
    SdkFrames,
    StartAttempt,
    TimerService,
)
from perdure.server.engine.timers import RETRY_FIRING_MS
from perdure.server.invoker import Invoker
from perdure.server.invoker.driver import AttemptTransport, ResponseHead, run_session
from perdure.server.invoker.in_process import ByteStreams
from perdure.server.invoker.mailboxes import Mailbox
from perdure.server.invoker.session import AttemptSession
from perdure.store.api import DeploymentRow, InvocationRow, ServiceRow, Store, WriteTxn
from perdure.store.sqlite import SqliteStore
from tests.support.polling import eventually

WAIT_S = 10.0


def plan(invocation_id: str, attempt: int = 1, uri: str = "embedded:///app.py") -> AttemptPlan:
    return AttemptPlan(
        invocation_id=invocation_id,
        attempt=attempt,
        service="S",
        handler="h",
        key=None,
        deployment_id="dp_1",
        uri=uri,
        use_http_11=False,
        additional_headers={},
        protocol_version=6,
        body=b"journal",
        protocol_mode="BIDI_STREAM",
    )


# ---- B6: aborting a queued attempt -------------------------------------------------------


async def test_aborting_an_attempt_still_queued_means_it_never_runs() -> None:
    ran: list[str] = []
    done = asyncio.Event()

    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        ran.append(headers["x-restate-invocation-id"])
        done.set()
        await io.send(encode_frame(MessageType.END, b""))

    async def submit(command: SdkFrames | AttemptFailed) -> None:
        pass

    invoker = Invoker(ServerConfig(), submit, {"embedded:///app.py": runner})
    invoker.start(plan("inv_aborted"))
    invoker.abort("inv_aborted", 1)  # before the invoker's loop took it
    invoker.start(plan("inv_kept"))
    running = asyncio.create_task(invoker.run())
    try:
        await asyncio.wait_for(done.wait(), WAIT_S)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert ran == ["inv_kept"]


# ---- B7: a failed firing is retried ----------------------------------------------------------


async def test_a_timer_whose_command_failed_fires_again() -> None:
    clock = ManualClock()
    fired: list[int] = []
    second = asyncio.Event()

    def submit(command: FireTimer) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fired.append(command.timer_id)
        if len(fired) == 1:
            future.set_exception(RuntimeError("the store is busy"))
        else:
            future.set_result(None)
            second.set()
        return future

    timers = TimerService(clock, submit)
    running = asyncio.create_task(timers.run())
    try:
        timers.arm(7, clock.now_ms())
        await eventually(lambda: len(fired) >= 1, what="the first firing", interval=0.001)
        assert not second.is_set()
        # The failure's callback re-arms it (after the loop ran it), at now + the retry delay.
        await eventually(lambda: 7 in timers._armed, what="the timer re-armed", interval=0.001)
        clock.advance(RETRY_FIRING_MS)  # re-armed after the failure, not at the next start
        await asyncio.wait_for(second.wait(), WAIT_S)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert fired == [7, 7]


# ---- B10: the body is never ended in the middle of a frame -----------------------------------


class BlockingTransport:
    """A transport whose sends after the first wait until released, recording the order of
    what reaches the wire."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.release = asyncio.Event()
        self.sending = asyncio.Event()
        self.response: asyncio.Queue[bytes] = asyncio.Queue()
        self._sends = 0

    async def send(self, data: bytes) -> None:
        self._sends += 1
        if self._sends > 1:  # the journal goes out at once; a notification blocks
            self.sending.set()
            await self.release.wait()
        self.wire.append(f"send {len(data)}")

    async def end_input(self) -> None:
        self.wire.append("end")

    async def head(self) -> ResponseHead | None:
        return None

    async def read(self) -> bytes:
        return await self.response.get()

    async def drain(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def test_a_terminal_message_does_not_cut_a_frame_being_sent() -> None:
    transport = BlockingTransport()
    mailbox = Mailbox("inv_b10", 1, 1)
    submitted: list[SdkFrames | AttemptFailed] = []

    async def submit(command: SdkFrames | AttemptFailed) -> None:
        submitted.append(command)

    async def open_transport() -> AttemptTransport:
        return transport

    the_plan = plan("inv_b10")
    attempt = asyncio.create_task(
        run_session(
            AttemptSession(the_plan, 1 << 20, streaming=True),
            open_transport,
            clock=SystemClock(),
            submit_frames=submit,
            submit_failure=submit,
            mailbox=mailbox,
        )
    )
    mailbox.put(NotificationCommitted("inv_b10", 1, 1, 0x8001, b"x" * 100))
    await asyncio.wait_for(transport.sending.wait(), WAIT_S)  # the notification is mid-send
    output = pb.OutputCommandMessage(value=pb.Value(content=b"1")).SerializeToString()
    transport.response.put_nowait(
        encode_frame(MessageType.OUTPUT, output) + encode_frame(MessageType.END, b"")
    )
    # The terminal batch reaches the engine meanwhile.
    await eventually(lambda: bool(submitted), what="the terminal batch", interval=0.001)
    assert transport.wire == [f"send {len(the_plan.body)}"]  # body not ended under the frame
    transport.release.set()
    await asyncio.wait_for(attempt, WAIT_S)
    assert transport.wire[1:] == [f"send {len(encode_frame(0x8001, b'x' * 100))}", "end"]


# ---- liveness: an attempt that cannot start is retried ----------------------------------------

MANIFEST = {"name": "S", "ty": "SERVICE", "handlers": [{"name": "h"}]}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore.open(tmp_path / "data")

    def schema(txn: WriteTxn) -> None:
        txn.put_deployment(
            DeploymentRow("dp_1", "http://x", True, "REQUEST_RESPONSE", 5, 7, {}, None, 0, "{}")
        )
        txn.put_service(ServiceRow("S", "dp_1", 1, "SERVICE", True, json.dumps(MANIFEST)))

    await opened.write(schema)
    try:
        yield opened
    finally:
        await opened.close()


async def test_an_attempt_whose_start_raised_is_failed_and_retried(store: Store) -> None:
    started: list[int] = []

    def effects(effect: Effect) -> None:
        if isinstance(effect, StartAttempt):
            started.append(effect.plan.attempt)
            if len(started) == 1:
                raise RuntimeError("the invoker is gone")

    processor = PartitionProcessor(store, Engine(ServerConfig(), ManualClock()), effects)
    invocation_id = str(InvocationId.generate())
    await processor.submit(Invoke(invocation_id, "S", "h", None, (), b""))

    async def backing_off() -> InvocationRow | None:
        # The AttemptFailed it submits commits in a later flush.
        row = await store.read(lambda txn: txn.get_invocation(invocation_id))
        return row if row is not None and row.status == InvocationStatus.BACKING_OFF else None

    row = await eventually(backing_off, what="the attempt failed", interval=0.005)
    assert row.last_failure is not None and "could not start" in row.last_failure
    assert started == [1]
