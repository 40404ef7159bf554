"""Runs an `AttemptSession` over a transport: the one I/O loop every transport shares.

A transport only moves bytes (`AttemptTransport`); the session decides everything else.
The driver feeds the session what happens — the response head and chunks (one reader
task), committed notifications (the attempt's mailbox), writes starting and finishing
(one writer task, so writes never interleave and the body is never ended mid-frame),
and time (one sleeper on the injected clock) — and carries out the actions in order,
awaiting each `Submit`'s commit before reading on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from perdure.protocol.errors import ProtocolError
from perdure.server.clock import Clock
from perdure.server.engine import AttemptFailed, NotificationCommitted, SdkFrames
from perdure.server.errors import TransportError
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
    notifications: asyncio.Queue[NotificationCommitted] | None,
) -> None:
    """Drive one attempt to its end; a failure is reported as `AttemptFailed`."""
    plan = session.plan
    try:
        transport = await open_transport()
        try:
            await _Loop(session, transport, clock, submit_frames, notifications).run()
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
    def __init__(
        self,
        session: AttemptSession,
        transport: AttemptTransport,
        clock: Clock,
        submit_frames: SubmitFrames,
        notifications: asyncio.Queue[NotificationCommitted] | None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.clock = clock
        self.submit_frames = submit_frames
        self.notifications = notifications
        self.writes: asyncio.Queue[Send | EndInput] = asyncio.Queue()

    def now(self) -> float:
        return self.clock.now_ms() / 1000

    async def run(self) -> None:
        session = self.session
        writer = asyncio.ensure_future(self.write_loop())
        reader: asyncio.Future[bytes | None] = asyncio.ensure_future(self.read_head())
        notified: asyncio.Future[NotificationCommitted] | None = None
        sleeper: asyncio.Future[None] | None = None
        sleeping_until: float | None = None
        try:
            if await self.act(session.start(self.now())):
                return
            while True:
                if notified is None and self.notifications is not None:
                    notified = asyncio.ensure_future(self.notifications.get())
                deadline = session.deadline()
                # A deadline moved later (activity) keeps the sleeper: it wakes early, finds
                # nothing expired, and sleeps again.
                if deadline is not None and (
                    sleeper is None or sleeping_until is None or deadline < sleeping_until
                ):
                    if sleeper is not None:
                        sleeper.cancel()
                    sleeper = asyncio.ensure_future(self.clock.sleep(deadline - self.now()))
                    sleeping_until = deadline
                waits: set[asyncio.Future[Any]] = {reader, writer}
                if notified is not None:
                    waits.add(notified)
                if sleeper is not None:
                    waits.add(sleeper)
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if writer in done:
                    writer.result()  # a write failure ends the attempt
                    raise TransportError("the request writer stopped")
                actions: list[Action] = []
                if notified is not None and notified in done:
                    actions += session.notification(self.now(), notified.result())
                    notified = None
                if reader in done:
                    chunk = reader.result()  # None: the head was fine, read the body next
                    if chunk:
                        actions += session.received(self.now(), chunk)
                    elif chunk is not None:
                        actions += session.response_ended(self.now())
                    reader = asyncio.ensure_future(self.transport.read())
                if sleeper is not None and sleeper in done:
                    sleeper = sleeping_until = None
                    actions += session.timer_due(self.now())
                if await self.act(actions):
                    return
        finally:
            for future in (writer, reader, notified, sleeper):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await future

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
            if isinstance(action, Send):
                await self.transport.send(action.data)
            else:
                await self.transport.end_input()
            self.session.write_finished(self.now())
            self.writes.task_done()

    async def read_head(self) -> bytes | None:
        """Check the response head first (None: it is fine). A non-200 fails the attempt
        with the start of the body in its message."""
        head = await self.transport.head()
        if head is None:
            return await self.transport.read()
        body = b""
        if head.status != 200:
            body = await self.read_some(ERROR_BODY_LIMIT)
        failed = self.session.head(self.now(), head.status, head.headers, body)
        if failed:
            await self.act(failed)  # raises
        return None

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
