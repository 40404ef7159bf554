"""One attempt in bidirectional streaming mode (protocol reference §2.4, §6.1-§6.4).

Over one HTTP/2 stream: write StartMessage and the journal snapshot, keep the request
body open, and from then on do two things at once:

- forward every notification committed for this invocation after the snapshot (the
  attempt's `Mailbox`, fed by `NotificationCommitted` effects, i.e. after commit);
- read the deployment's frames and hand them to the processor in arrival order.

Timeouts (§6.2): the inactivity timeout restarts on every message in either direction;
when it expires the request body is closed, which asks the SDK to suspend. From then on
the abort timeout bounds each wait for the deployment's next message; when it expires the
attempt is aborted (a transient failure, retried). After End, Suspension or Error the
request body is closed and the rest of the response drained (bounded). A response that
ends without one of those is a transient failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from perdure.protocol.errors import ProtocolError
from perdure.protocol.framing import Frame, FrameDecoder, encode_frame
from perdure.protocol.identity import RequestSigner
from perdure.protocol.messages import MessageType
from perdure.protocol.versions import parse_protocol_content_type, protocol_content_type
from perdure.server.commands import AttemptFailed, AttemptPlan, SdkFrames
from perdure.server.invoker.h2client import H2Error, H2Pool, H2Stream
from perdure.server.invoker.live import Mailbox
from perdure.server.invoker.request_response import (
    AttemptError,
    Submit,
    attempt_headers,
    invoke_url,
    retry_after_ms,
)

logger = logging.getLogger(__name__)

_TERMINAL = {MessageType.END, MessageType.SUSPENSION, MessageType.ERROR}
_ABORT_CODE = 500
DRAIN_TIMEOUT_S = 5.0
_ERROR_BODY_LIMIT = 500


async def run_bidi_attempt(
    plan: AttemptPlan,
    pool: H2Pool,
    mailbox: Mailbox,
    submit: Submit,
    *,
    cluster_name: str,
    signer: RequestSigner | None,
    max_frame_size: int,
) -> None:
    """Drive one attempt to its end; report a transport failure as `AttemptFailed`."""
    exchange = _Exchange(plan, mailbox, submit, max_frame_size)
    try:
        headers = attempt_headers(plan, cluster_name, signer)
        stream = await pool.open_stream(str(invoke_url(plan)), list(headers.items()))
        try:
            await exchange.run(stream)
        finally:
            stream.reset()  # no-op once both directions ended
    except (AttemptError, H2Error, ProtocolError) as exc:
        retry_after = exc.retry_after_ms if isinstance(exc, AttemptError) else None
        message = str(exc) or type(exc).__name__
        logger.info("attempt %d of %s failed: %s", plan.attempt, plan.invocation_id, message)
        await submit(
            AttemptFailed(plan.invocation_id, plan.attempt, _ABORT_CODE, message, retry_after)
        )


class _Exchange:
    def __init__(
        self, plan: AttemptPlan, mailbox: Mailbox, submit: Submit, max_frame_size: int
    ) -> None:
        self.plan = plan
        self.snapshot = plan.known_entries
        self.mailbox = mailbox
        self.submit = submit
        self.decoder = FrameDecoder(max_frame_size)
        self.inactivity_s = plan.inactivity_timeout_ms / 1000
        self.abort_s = plan.abort_timeout_ms / 1000
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        self.body_open = True
        self.sending = False  # the writer is in the middle of a frame
        self.head_checked = False

    def touch(self) -> None:
        self.last_activity = self.loop.time()

    async def run(self, stream: H2Stream) -> None:
        # A peer that never reads would block this send on flow control: bound it.
        await self.bounded(stream.send(self.plan.body), self.inactivity_s + self.abort_s)
        self.touch()
        reader = asyncio.ensure_future(self.next_frames(stream))
        writer = asyncio.ensure_future(self.forward(stream))
        try:
            while True:
                limit = self.inactivity_s if self.body_open else self.abort_s
                remaining = self.last_activity + limit - self.loop.time()
                if writer.done() and not writer.cancelled():
                    writer.result()  # a send failure ends the attempt
                waits: set[asyncio.Future[Any]] = {reader}
                if not writer.done():
                    waits.add(writer)
                done, _ = await asyncio.wait(
                    waits, timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED
                )
                if writer in done:
                    continue  # re-checked at the top of the loop
                if reader in done:
                    frames = reader.result()
                    self.touch()
                    if await self.handle(stream, frames):
                        return
                    reader = asyncio.ensure_future(self.next_frames(stream))
                    continue
                limit = self.inactivity_s if self.body_open else self.abort_s
                if self.loop.time() - self.last_activity < limit:
                    continue  # a notification went out meanwhile
                if not self.body_open:
                    raise AttemptError(
                        f"no message from the deployment for {self.abort_s:g}s after the "
                        "request body was closed (abort timeout)"
                    )
                logger.debug(
                    "attempt %d of %s inactive for %gs: asking it to suspend",
                    self.plan.attempt,
                    self.plan.invocation_id,
                    self.inactivity_s,
                )
                await self.close_body(stream, writer)
                self.touch()
        finally:
            for task in (reader, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def forward(self, stream: H2Stream) -> object:
        """Stream committed notifications to the deployment, in journal order."""
        while self.body_open:
            effect = await self.mailbox.queue.get()
            if not self.body_open:
                break
            self.sending = True
            try:
                await stream.send(encode_frame(effect.entry_type, effect.payload))
            finally:
                self.sending = False
            self.touch()
        return None

    async def close_body(self, stream: H2Stream, writer: asyncio.Future[object]) -> None:
        """Stop forwarding (never in the middle of a frame), then END_STREAM."""
        self.body_open = False
        if not writer.done():
            if self.sending:
                # The writer stops after this frame; a cut frame would corrupt the stream.
                await self.bounded(asyncio.wait({writer}), self.abort_s)
            else:
                writer.cancel()
        await stream.end()

    async def bounded(self, step: Awaitable[object], timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await step
        except TimeoutError:
            raise AttemptError(
                f"the deployment took no request bytes for {timeout_s:g}s (flow control)"
            ) from None

    async def next_frames(self, stream: H2Stream) -> list[Frame]:
        """The next frames of the response (at least one). Checks the head first."""
        if not self.head_checked:
            head = await stream.response()
            if head.status != 200:
                body = await _read_some(stream, _ERROR_BODY_LIMIT)
                raise AttemptError(
                    f"deployment answered HTTP {head.status}: {body.decode('utf-8', 'replace')}",
                    retry_after_ms(head.headers.get("retry-after")),
                )
            content_type = head.headers.get("content-type")
            if parse_protocol_content_type(content_type) != self.plan.protocol_version:
                raise AttemptError(
                    f"deployment answered content-type {content_type!r}, expected "
                    f"{protocol_content_type(self.plan.protocol_version)!r}"
                )
            self.head_checked = True
        while True:
            chunk = await stream.read()
            if not chunk:
                raise AttemptError("the response ended without End, Suspension or Error")
            frames = self.decoder.feed(chunk)
            if frames:
                return frames

    async def handle(self, stream: H2Stream, frames: list[Frame]) -> bool:
        """Submit frames in order; True once a terminal message was handled."""
        batch: list[Frame] = []
        ended = False
        for frame in frames:
            batch.append(frame)
            if frame.type in _TERMINAL:
                ended = True
                break
        if ended and self.body_open:
            # The Python SDK ends its response only after the request body ended.
            self.body_open = False
            await stream.end()
        await self.submit(
            SdkFrames(self.plan.invocation_id, self.plan.attempt, tuple(batch), self.snapshot)
        )
        if ended:
            await _drain(stream)
        return ended


async def _read_some(stream: H2Stream, limit: int) -> bytes:
    data = b""
    with contextlib.suppress(H2Error, TimeoutError):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while len(data) < limit:
                chunk = await stream.read()
                if not chunk:
                    break
                data += chunk
    return data[:limit]


async def _drain(stream: H2Stream) -> None:
    """Read the response to its end (bounded); nothing after a terminal message counts."""
    with contextlib.suppress(H2Error, TimeoutError):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while await stream.read():
                pass
