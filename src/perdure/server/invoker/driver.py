"""Runs an `AttemptSession` over a transport: the one I/O loop every transport shares.

A transport only moves bytes (`AttemptTransport`); the session decides everything else.
The driver feeds the session what happens — the response head and chunks (one reader
task, one chunk in flight), committed notifications (the attempt's mailbox wakes it),
writes starting and finishing (one writer task, so writes never interleave and the body
is never ended mid-frame), and time (one timer on the injected clock) — and carries out
the actions in order, awaiting each `Submit`'s commit before reading on. Everything
arrives in one inbox the loop drains when woken: no task per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from perdure.protocol.errors import ProtocolError
from perdure.server.clock import Cancel, Clock
from perdure.server.engine import AttemptFailed, SdkFrames
from perdure.server.errors import TransportError
from perdure.server.invoker.mailboxes import Mailbox
from perdure.server.invoker.session import (
    ERROR_BODY_LIMIT,
    Action,
    AttemptSession,
    EndInput,
    Fail,
    Finish,
    Send,
    Submit,
)

logger = logging.getLogger(__name__)

SubmitFrames = Callable[[SdkFrames], Awaitable[None]]
SubmitFailure = Callable[[AttemptFailed], Awaitable[None]]
ABORT_CODE = 500
DRAIN_TIMEOUT_S = 5.0
"""How long the deployment may take to end its response after a terminal message."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: dict[str, str]  # lower-cased names


class AttemptTransport(Protocol):
    """Moves the bytes of one attempt. Methods raise `TransportError` on failure."""

    async def send(self, data: bytes) -> None:
        """Write to the request body."""

    async def end_input(self) -> None:
        """End the request body."""

    async def head(self) -> ResponseHead | None:
        """The response head; None where there is none (in-process)."""

    async def read(self) -> bytes:
        """The next response bytes; b"" once the response ended."""

    async def drain(self) -> None:
        """After a terminal message: let the response end (bounded by the caller)."""

    async def aclose(self) -> None:
        """Release the exchange (reset it if it is still open)."""


class _Failed(Exception):
    def __init__(self, fail: Fail) -> None:
        super().__init__(fail.message)
        self.fail = fail


async def run_session(
    session: AttemptSession,
    open_transport: Callable[[], Awaitable[AttemptTransport]],
    *,
    clock: Clock,
    submit_frames: SubmitFrames,
    submit_failure: SubmitFailure,
    mailbox: Mailbox | None,
) -> None:
    """Drive one attempt to its end; a failure is reported as `AttemptFailed`."""
    plan = session.plan
    try:
        transport = await open_transport()
        try:
            await _Loop(session, transport, clock, submit_frames, mailbox).run()
        finally:
            await transport.aclose()
    except (_Failed, TransportError, ProtocolError) as exc:
        if isinstance(exc, _Failed):
            message, retry_after = exc.fail.message, exc.fail.retry_after_ms
        else:
            message = str(exc) or type(exc).__name__
            retry_after = exc.retry_after_ms if isinstance(exc, TransportError) else None
        logger.info("attempt %d of %s failed: %s", plan.attempt, plan.invocation_id, message)
        await submit_failure(
            AttemptFailed(plan.invocation_id, plan.attempt, ABORT_CODE, message, retry_after)
        )


class _Loop:
    """One attempt's I/O: a reader task and a writer task feed an inbox the loop drains
    whenever it is woken (by them, by the mailbox, or by the session's timer)."""

    def __init__(
        self,
        session: AttemptSession,
        transport: AttemptTransport,
        clock: Clock,
        submit_frames: SubmitFrames,
        mailbox: Mailbox | None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.clock = clock
        self.submit_frames = submit_frames
        self.mailbox = mailbox
        self.wake = asyncio.Event()
        self.chunks: deque[bytes | None] = deque()  # None: the head was fine
        self.may_read = asyncio.Event()  # one chunk in flight at a time: backpressure
        self.failure: BaseException | None = None
        self.writes: asyncio.Queue[Send | EndInput] = asyncio.Queue()
        self.timer_due = False
        self.timer_at: float | None = None
        self.cancel_timer: Cancel | None = None

    def now(self) -> float:
        return self.clock.now_ms() / 1000

    async def run(self) -> None:
        session = self.session
        writer = asyncio.ensure_future(self.write_loop())
        reader = asyncio.ensure_future(self.read_loop())
        for task in (writer, reader):
            task.add_done_callback(self.task_ended)
        if self.mailbox is not None:
            self.mailbox.on_delivery = self.wake.set
            if self.mailbox.pending:
                self.wake.set()  # delivered between the attempt's start and now
        try:
            if await self.act(session.start(self.now())):
                return
            while True:
                self.arm_timer()
                await self.wake.wait()
                self.wake.clear()
                if self.failure is not None:
                    raise self.failure
                actions: list[Action] = []
                if self.mailbox is not None:
                    for effect in self.mailbox.take():
                        actions += session.notification(self.now(), effect)
                while self.chunks:
                    chunk = self.chunks.popleft()
                    if chunk:
                        actions += session.received(self.now(), chunk)
                    elif chunk is not None:
                        actions += session.response_ended(self.now())
                self.may_read.set()
                if self.timer_due:
                    self.timer_due = False
                    actions += session.timer_due(self.now())
                if await self.act(actions):
                    return
        finally:
            if self.mailbox is not None:
                self.mailbox.on_delivery = None
            if self.cancel_timer is not None:
                self.cancel_timer()
            for task in (writer, reader):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    def task_ended(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        self.failure = error or TransportError("the attempt's reader or writer stopped")
        self.wake.set()

    def arm_timer(self) -> None:
        """Have `timer_due` set when the session's next deadline passes. A deadline that
        moved later (activity) keeps the timer: it fires early, nothing expired, re-armed."""
        deadline = self.session.deadline()
        if deadline is None or (self.timer_at is not None and self.timer_at <= deadline):
            return
        if self.cancel_timer is not None:
            self.cancel_timer()
        self.timer_at = deadline
        self.cancel_timer = self.clock.call_later(deadline - self.now(), self.timer_fired)

    def timer_fired(self) -> None:
        self.timer_at = self.cancel_timer = None
        self.timer_due = True
        self.wake.set()

    async def act(self, actions: list[Action]) -> bool:
        """Carry out `actions` in order; True once the attempt is over."""
        for action in actions:
            if isinstance(action, Send | EndInput):
                self.writes.put_nowait(action)
            elif isinstance(action, Submit):
                await self.submit_frames(action.frames)
            elif isinstance(action, Finish):
                await self.finish()
                return True
            else:
                raise _Failed(action)
        return False

    async def finish(self) -> None:
        # The body was ended before the terminal batch was submitted; the writer must get
        # that out before the response can end.
        with contextlib.suppress(TransportError, TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await self.writes.join()
                await self.transport.drain()

    async def write_loop(self) -> None:
        while True:
            action = await self.writes.get()
            self.session.write_started(self.now())
            self.arm_timer()  # the write may block on flow control: its bound is timed
            if isinstance(action, Send):
                await self.transport.send(action.data)
            else:
                await self.transport.end_input()
            self.session.write_finished(self.now())
            self.writes.task_done()

    async def read_loop(self) -> None:
        """The head (checked first; a non-200 fails the attempt with the start of the
        body in its message), then the body a chunk at a time, then b"" at its end."""
        head = await self.transport.head()
        if head is not None:
            body = b""
            if head.status != 200:
                body = await self.read_some(ERROR_BODY_LIMIT)
            failed = self.session.head(self.now(), head.status, head.headers, body)
            if failed:
                assert isinstance(failed[0], Fail)
                raise _Failed(failed[0])
        while True:
            chunk = await self.transport.read()
            self.may_read.clear()
            self.chunks.append(chunk)
            self.wake.set()
            if not chunk:
                await asyncio.Event().wait()  # the response ended: nothing more to read
            await self.may_read.wait()

    async def read_some(self, limit: int) -> bytes:
        data = b""
        with contextlib.suppress(TransportError, TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                while len(data) < limit:
                    chunk = await self.transport.read()
                    if not chunk:
                        break
                    data += chunk
        return data
