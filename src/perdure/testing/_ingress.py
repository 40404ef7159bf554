"""The harness's ingress, as the test's client sees it: one ASGI app in front of whichever
server generation is current, so that a client survives a crash of the server.

A request is buffered (body in, response out) and handed to the current generation's
ingress. When that generation crashes while the request is in flight, the request is sent
again to the next generation once it recovered, as a client that lost its connection
retries. With `keyed_handlers` (the harness's default), every request that would create an
invocation carries an idempotency key unless it has one, so that a retry attaches to the
invocation the first try created instead of making a second one; a retried send then
says "Accepted", as the lost first answer would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from perdure.server.http import Message, Receive, Scope, Send

IDEMPOTENCY_HEADER = b"idempotency-key"


class IngressGeneration(Protocol):
    """What the proxy needs of a server generation."""

    @property
    def ingress(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]: ...

    @property
    def crashed(self) -> asyncio.Event: ...


class IngressProxy:
    def __init__(
        self,
        current: Callable[[], Awaitable[IngressGeneration]],
        *,
        keyed_handlers: Callable[[str, str], bool] | None,
    ) -> None:
        """`keyed_handlers(service, handler)`: whether a call to it gets an idempotency key
        (None: never)."""
        self._current = current
        self._keyed_handlers = keyed_handlers
        self._sequence = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        scope = self._with_idempotency_key(scope)
        retried = False
        while True:
            generation = await self._current()
            events: list[Message] = []
            outcome = await _attempt(generation, scope, body, events)
            if outcome:
                break
            retried = True
        if retried:
            events = _as_first_answer(events)
        for event in events:
            await send(event)

    def _with_idempotency_key(self, scope: Scope) -> Scope:
        if self._keyed_handlers is None or scope["method"] != "POST":
            return scope
        segments = [s for s in str(scope.get("path", "")).split("/") if s]
        if segments and segments[-1] == "send":
            segments.pop()
        if len(segments) < 2 or not self._keyed_handlers(segments[0], segments[-1]):
            return scope  # not a call (awakeables, the restate/ API) or a workflow's run
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if any(name.lower() == IDEMPOTENCY_HEADER for name, _ in headers):
            return scope
        key = f"perdure-testing-{next(self._sequence)}".encode()
        return {**scope, "headers": [*headers, (IDEMPOTENCY_HEADER, key)]}


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _attempt(
    generation: IngressGeneration, scope: Scope, body: bytes, events: list[Message]
) -> bool:
    """Run the request on `generation`; False if it crashed before the response ended."""
    delivered = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client stays connected until the response ended
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        events.append(message)

    app = asyncio.ensure_future(generation.ingress(scope, receive, send))
    crash = asyncio.ensure_future(generation.crashed.wait())
    try:
        await asyncio.wait({app, crash}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        finished.set()
        crash.cancel()
    if app.done():
        app.result()  # an exception of the ingress itself is the test's to see
        return True
    app.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await app
    return False


def _as_first_answer(events: list[Message]) -> list[Message]:
    """A retried send's answer as the first try's would have been ("Accepted")."""
    body = b"".join(e.get("body", b"") for e in events if e.get("type") == "http.response.body")
    try:
        data: Any = json.loads(body)
    except ValueError:
        return events
    if not isinstance(data, dict) or data.get("status") != "PreviouslyAccepted":
        return events
    data["status"] = "Accepted"
    content = json.dumps(data).encode()
    start = next(e for e in events if e.get("type") == "http.response.start")
    headers = [
        (name, str(len(content)).encode() if name.lower() == b"content-length" else value)
        for name, value in start.get("headers", [])
    ]
    return [
        {**start, "headers": headers},
        {"type": "http.response.body", "body": content, "more_body": False},
    ]
