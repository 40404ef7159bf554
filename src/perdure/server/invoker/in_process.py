"""The in-process transport (embedded mode, `perdure dev`): the same protocol bytes, no HTTP.

The deployment is a Python app hosted by this process. An attempt hands the app's attempt
runner (`perdure.sdk` binds it to the app, see `AttemptRunner`) an in-memory, full-duplex
byte stream; the session drives it exactly as it drives an HTTP/2 stream (streaming, with
live notifications) or an HTTP/1.1 request (not streaming: the input ends right after the
journal, so every await on a missing result suspends).

The server never imports the SDK: the embedding side (the `perdure dev` command) supplies
the runner. A runner that cannot serve the handler raises `LookupError`, which becomes a
retryable attempt failure, like a 404 from an HTTP deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from perdure.server.engine import AttemptPlan
from perdure.server.errors import TransportError
from perdure.server.invoker.driver import DRAIN_TIMEOUT_S, ResponseHead

logger = logging.getLogger(__name__)

EMBEDDED_SCHEME = "embedded"


class ByteStreams(Protocol):
    """The handler's side of the stream; structurally `perdure.sdk`'s attempt I/O."""

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


class InProcessTransport:
    def __init__(self, plan: AttemptPlan, runner: AttemptRunner, headers: dict[str, str]) -> None:
        self._side = _HandlerSide()
        self._input_open = True
        self._handler = asyncio.create_task(
            self._run(plan, runner, headers), name=f"in-process attempt {plan.invocation_id}"
        )

    async def _run(self, plan: AttemptPlan, runner: AttemptRunner, headers: dict[str, str]) -> None:
        try:
            await runner(plan.service, plan.handler, plan.protocol_version, headers, self._side)
        finally:
            self._side.outbound.put_nowait(None)  # the response ends, however the runner did

    async def send(self, data: bytes) -> None:
        if self._input_open:
            self._side.inbound.put_nowait(data)

    async def end_input(self) -> None:
        if self._input_open:
            self._input_open = False
            self._side.inbound.put_nowait(None)

    async def head(self) -> ResponseHead | None:
        return None  # no HTTP: the handler speaks the negotiated version by construction

    async def read(self) -> bytes:
        chunk = await self._side.outbound.get()
        if chunk is None:
            self._side.outbound.put_nowait(None)  # stay at the end for later reads
            raise_if_failed(await _outcome(self._handler))
            return b""
        return chunk

    async def drain(self) -> None:
        """Let the handler return; nothing it sends after a terminal message counts."""
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self._handler)

    async def aclose(self) -> None:
        # The handler task (and its ctx.run tasks) must not outlive the attempt.
        if not self._handler.done():
            self._handler.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._handler


async def _outcome(handler: asyncio.Task[None]) -> BaseException | None:
    # The end of the response is written in the runner's `finally`: the task is ending.
    await asyncio.wait({handler}, timeout=DRAIN_TIMEOUT_S)
    if handler.done() and not handler.cancelled():
        return handler.exception()
    return None


def raise_if_failed(exc: BaseException | None) -> None:
    """Why the response ended early, when the handler's attempt raised."""
    if isinstance(exc, LookupError):
        raise TransportError(f"the embedded app cannot serve this handler: {exc}")
    if exc is not None:
        logger.error("the embedded handler's attempt failed", exc_info=exc)
        raise TransportError(f"the embedded handler's attempt failed: {exc!r}")
