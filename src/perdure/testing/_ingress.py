"""The harness's ingress, as the test's client sees it: one ASGI app in front of whichever
server generation is current, so that a client survives a crash of the server.

A request is buffered (body in, response out) and handed to the current generation's
ingress. When that generation crashes while the request is in flight, the request is sent
again to the next generation once it recovered, as a client that lost its connection
retries. With `idempotency_keys` (crash exploration), every request that would create an
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
        self, current: Callable[[], Awaitable[IngressGeneration]], *, idempotency_keys: bool
    ) -> None:
        self._current = current
        self._idempotency_keys = idempotency_keys
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
            events = [_as_first_answer(event) for event in events]
        for event in events:
            await send(event)

    def _with_idempotency_key(self, scope: Scope) -> Scope:
        if not self._idempotency_keys or scope["method"] != "POST":
            return scope
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if any(name.lower() == IDEMPOTENCY_HEADER for name, _ in headers):
            return scope
        key = f"perdure-testing-{next(self._sequence)}".encode()
        return {**scope, "headers": [*headers, (IDEMPOTENCY_HEADER, key)]}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
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


def _as_first_answer(event: Message) -> Message:
    """A retried send's answer as the first try's would have been."""
    if event.get("type") != "http.response.body":
        return event
    try:
        data: Any = json.loads(event.get("body", b""))
    except ValueError:
        return event
    if isinstance(data, dict) and data.get("status") == "PreviouslyAccepted":
        data["status"] = "Accepted"
        return {**event, "body": json.dumps(data).encode()}
    return event
