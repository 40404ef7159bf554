"""In-process attempts (embedded mode, `perdure dev`): the same protocol bytes, no HTTP.

The deployment is a Python app hosted by this process. An attempt hands the app's attempt
runner (`perdure.sdk.invocation.run_attempt` bound to the app, see `AttemptRunner`) an
in-memory, full-duplex byte stream, and drives it exactly as bidi.py drives an HTTP/2
stream:

- the request side carries the StartMessage and journal (`plan.body`), then, while the
  input stays open, every notification committed for the invocation after the snapshot
  (the attempt's `Mailbox`, fed only after commit);
- the response side is decoded into frames that go to the processor in arrival order,
  until End, Suspension or Error.

Without a mailbox (request-response: the deployment forced it, or the inactivity timeout
is 0) the input is closed right after the journal, so every await on a missing result
suspends, as over HTTP/1.1. Timeouts are bidi's: inactivity closes the input (the handler
suspends); after that the abort timeout bounds each wait for the handler's next bytes.

The server never imports the SDK: the embedding side (the `perdure dev` command) supplies
the runner. A runner that cannot serve the handler raises `LookupError`, which becomes a
retryable attempt failure, like a 404 from an HTTP deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from perdure.protocol.errors import ProtocolError
from perdure.protocol.framing import Frame, FrameDecoder, encode_frame
from perdure.protocol.messages import MessageType
from perdure.server.commands import AttemptFailed, AttemptPlan, NotificationCommitted, SdkFrames
from perdure.server.invoker.live import Mailbox
from perdure.server.invoker.request_response import AttemptError, Submit, attempt_headers

logger = logging.getLogger(__name__)

EMBEDDED_SCHEME = "embedded"
_TERMINAL = {MessageType.END, MessageType.SUSPENSION, MessageType.ERROR}
_ABORT_CODE = 500
DRAIN_TIMEOUT_S = 5.0
"""How long a handler may take to return after its terminal message and the input end."""


class ByteStreams(Protocol):
    """The handler's side of the stream; structurally `perdure.sdk.invocation.AttemptIO`."""

    async def receive(self) -> bytes | None: ...

    async def send(self, data: bytes) -> None: ...


AttemptRunner = Callable[[str, str, int, Mapping[str, str], ByteStreams], Awaitable[None]]
"""`(service, handler, protocol_version, attempt_headers, io)`: run one attempt over `io`.
Raises LookupError when the app does not serve `service/handler`."""


def is_embedded(uri: str) -> bool:
    return uri.startswith(f"{EMBEDDED_SCHEME}://")


def runner_for(uri: str, hosted: Mapping[str, AttemptRunner]) -> AttemptRunner:
    """The runner of embedded deployment `uri`; one that fails every attempt (retried, with
    a message that says what to do) when this process does not host it, e.g. a data dir
    of `perdure dev` opened by `perdure server`, or by `perdure dev` with another app."""
    runner = hosted.get(uri)
    if runner is not None:
        return runner

    async def not_hosted(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        raise LookupError(
            f"{uri} is not hosted by this process (hosted: {', '.join(hosted) or 'none'}); "
            f"run `perdure dev` with that app on this data dir"
        )

    return not_hosted


class _HandlerSide:
    """What the hosted app reads and writes. `None` on either queue means end of stream."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.outbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._input_ended = False

    async def receive(self) -> bytes | None:
        if self._input_ended:
            return None
        chunk = await self.inbound.get()
        self._input_ended = chunk is None
        return chunk

    async def send(self, data: bytes) -> None:
        if data:
            # A copy: the SDK may reuse its buffer, the server decodes this one later.
            self.outbound.put_nowait(bytes(data))


async def run_in_process_attempt(
    plan: AttemptPlan,
    runner: AttemptRunner,
    mailbox: Mailbox | None,
    submit: Submit,
    *,
    cluster_name: str,
    max_frame_size: int,
) -> None:
    """Drive one attempt to its end; report a failure outside the protocol as
    `AttemptFailed` (retried with the service's policy)."""
    try:
        await _Exchange(plan, runner, mailbox, submit, cluster_name, max_frame_size).run()
    except (AttemptError, ProtocolError) as exc:
        message = str(exc) or type(exc).__name__
        logger.info("attempt %d of %s failed: %s", plan.attempt, plan.invocation_id, message)
        await submit(AttemptFailed(plan.invocation_id, plan.attempt, _ABORT_CODE, message))


class _Exchange:
    def __init__(
        self,
        plan: AttemptPlan,
        runner: AttemptRunner,
        mailbox: Mailbox | None,
        submit: Submit,
        cluster_name: str,
        max_frame_size: int,
    ) -> None:
        self.plan = plan
        self.snapshot = plan.known_entries
        self.runner = runner
        self.mailbox = mailbox
        self.submit = submit
        self.cluster_name = cluster_name
        self.decoder = FrameDecoder(max_frame_size)
        self.side = _HandlerSide()
        self.inactivity_s = plan.inactivity_timeout_ms / 1000
        self.abort_s = plan.abort_timeout_ms / 1000
        self.loop = asyncio.get_running_loop()
        self.last_activity = self.loop.time()
        self.input_open = True

    def close_input(self) -> None:
        if self.input_open:
            self.input_open = False
            self.side.inbound.put_nowait(None)

    async def _handler(self) -> None:
        plan = self.plan
        # Same headers as over HTTP, minus the request signature (there is no hop to sign).
        headers = attempt_headers(plan, self.cluster_name, None)
        try:
            await self.runner(plan.service, plan.handler, plan.protocol_version, headers, self.side)
        finally:
            self.side.outbound.put_nowait(None)  # the response ends, however the runner did

    async def run(self) -> None:
        handler = asyncio.create_task(
            self._handler(), name=f"in-process attempt {self.plan.invocation_id}"
        )
        self.side.inbound.put_nowait(self.plan.body)
        if self.mailbox is None:
            self.close_input()  # request-response: nothing follows the journal
        reader: asyncio.Future[bytes | None] = asyncio.ensure_future(self.side.outbound.get())
        notified: asyncio.Future[Any] | None = None
        try:
            while True:
                if notified is None and self.input_open and self.mailbox is not None:
                    notified = asyncio.ensure_future(self.mailbox.queue.get())
                waits: set[asyncio.Future[Any]] = {reader}
                if notified is not None:
                    waits.add(notified)
                limit = self.inactivity_s if self.input_open else self.abort_s
                remaining = self.last_activity + limit - self.loop.time()
                done, _ = await asyncio.wait(
                    waits, timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED
                )
                if notified is not None and notified in done:
                    self.forward(notified.result())
                    notified = None
                if reader in done:
                    chunk = reader.result()
                    if chunk is None:
                        raise AttemptError(await _ended_early(handler))
                    self.last_activity = self.loop.time()
                    if await self.handle(self.decoder.feed(chunk)):
                        await _drain(handler)
                        return
                    reader = asyncio.ensure_future(self.side.outbound.get())
                if done:
                    continue
                if not self.input_open:
                    raise AttemptError(
                        f"no message from the handler for {self.abort_s:g}s after its input "
                        "was closed (abort timeout)"
                    )
                logger.debug(
                    "attempt %d of %s inactive for %gs: asking it to suspend",
                    self.plan.attempt,
                    self.plan.invocation_id,
                    self.inactivity_s,
                )
                self.close_input()
                self.last_activity = self.loop.time()
        finally:
            for future in (reader, notified, handler):
                if future is not None and not future.done():
                    future.cancel()
            # The handler task (and its ctx.run tasks) must not outlive the attempt.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler

    def forward(self, effect: NotificationCommitted) -> None:
        """A committed notification to the running handler, while its input is open."""
        if self.input_open:
            self.side.inbound.put_nowait(encode_frame(effect.entry_type, effect.payload))
            self.last_activity = self.loop.time()

    async def handle(self, frames: list[Frame]) -> bool:
        """Submit frames in order; True once a terminal message was handled."""
        if not frames:
            return False
        batch: list[Frame] = []
        ended = False
        for frame in frames:
            batch.append(frame)
            if frame.type in _TERMINAL:
                ended = True
                break
        if ended:
            # The SDK ends its response only after its input ended (as over HTTP/2).
            self.close_input()
        await self.submit(
            SdkFrames(self.plan.invocation_id, self.plan.attempt, tuple(batch), self.snapshot)
        )
        return ended


async def _ended_early(handler: asyncio.Task[None]) -> str:
    """Why the response ended without a terminal message."""
    # The end of the response is written in the runner's `finally`: the task is ending.
    await asyncio.wait({handler}, timeout=DRAIN_TIMEOUT_S)
    exc = handler.exception() if handler.done() and not handler.cancelled() else None
    if isinstance(exc, LookupError):
        return f"the embedded app cannot serve this handler: {exc}"
    if exc is not None:
        logger.error("the embedded handler's attempt failed", exc_info=exc)
        return f"the embedded handler's attempt failed: {exc!r}"
    return "the handler's response ended without End, Suspension or Error"


async def _drain(handler: asyncio.Task[None]) -> None:
    """Let the handler return (bounded); nothing it sends after a terminal message counts."""
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            await asyncio.shield(handler)
