"""A minimal ASGI toolkit for the ingress and admin apps: request, response, errors."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from perdure.server.errors import ServerError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(ServerError):
    """The request body exceeds the configured limit."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-encoded, as received
    query: dict[str, str]
    raw_query: str
    headers: tuple[tuple[str, str], ...]  # lower-cased names, in order
    receive: Receive

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else urllib.parse.quote(scope["path"])
        path = path.split("?", 1)[0]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = {k.lower(): v for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True)}
        headers = tuple(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
        )
        return cls(scope["method"], path, query, raw_query, headers, receive)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def body(self, limit: int) -> bytes:
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def json(self, limit: int) -> object:
        raw = await self.body(limit)
        return json.loads(raw) if raw else None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(status: int, data: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, (("content-type", "application/json"), *headers))


async def lifespan_noop(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: components are started by the app, not here."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class TrackedReceive:
    """Wraps an ASGI `receive`; knows whether the request body was read to its end.

    A handler that answers (say, 400) without reading the body must still consume it, or
    the HTTP/1.1 connection cannot carry the next request: `finish` discards what is left
    (up to a bound) and says whether the connection stays usable.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.complete = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.complete = True
        return message

    async def finish(self, discard_limit: int) -> bool:
        """Discard the rest of the body; False if more than `discard_limit` bytes remain."""
        discarded = 0
        while not self.complete:
            message = await self()
            discarded += len(message.get("body", b""))
            if discarded > discard_limit:
                return False
        return True


def closing(response: Response) -> Response:
    """The response with `connection: close` (the unread body makes the connection unusable)."""
    return Response(response.status, response.body, (*response.headers, ("connection", "close")))


async def settle_body(
    tracked: TrackedReceive,
    response: Response,
    *,
    discard_limit: int = 1024 * 1024,
    timeout_s: float = 5.0,
    close: bool = False,
) -> Response:
    """Before answering: discard an unread request body (bounded in size and time) so the
    connection can carry the next request, or mark the response `connection: close`."""
    if tracked.complete:
        return response
    if not close:
        try:
            async with asyncio.timeout(timeout_s):
                if await tracked.finish(discard_limit):
                    return response
        except TimeoutError:
            pass
    return closing(response)
