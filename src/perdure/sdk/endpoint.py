"""The ASGI application that serves services to a Restate-compatible server.

Routes are matched on the last path segments, so the app works under any prefix:

    GET  …/health                     200 {"status":"ok"} (never identity-checked)
    GET  …/discover                   the endpoint manifest (see `discovery`)
    POST …/invoke/{service}/{handler} one attempt of an invocation

An attempt answers 200 with the request's protocol content type *before* reading the
request body, then streams: on HTTP/2 the journal and new notifications come in while
commands go out (bidirectional); on HTTP/1.1 the server sends the whole body first.
The attempt itself is `perdure.sdk._run.run_attempt`; this module only adapts
ASGI to its `AttemptIO`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from perdure._version import __version__
from perdure.protocol.identity import IdentityError, RequestVerifier
from perdure.protocol.versions import (
    MAX_SERVICE_PROTOCOL_VERSION,
    MIN_SERVICE_PROTOCOL_VERSION,
    parse_protocol_content_type,
    protocol_content_type,
)
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.discovery import ProtocolChoice, discover
from perdure.sdk.handler import HandlerSpec
from perdure.sdk.schedule import Schedule

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger(__name__)

SERVER_HEADER = (b"x-restate-server", f"perdure/{__version__}".encode())
_HEALTH_BODY = b'{"status":"ok"}'
INPUT_END_TIMEOUT_S = 5.0
"""How long a finished attempt waits for the server to end the request body."""


def app(
    services: Iterable[ServiceDefinition],
    protocol: ProtocolChoice | None = None,
    identity_keys: list[str] | None = None,
    *,
    schedules: Iterable[Schedule] = (),
) -> Endpoint:
    """An ASGI application serving `services`.

    Args:
        services: The `Service`, `VirtualObject` and `Workflow` definitions to serve.
        protocol: Force the protocol mode announced on discovery: "bidi" or
            "request_response". By default it follows the HTTP version of the discovery
            request (HTTP/2 means bidi).
        identity_keys: ``publickeyv1_…`` keys of the servers allowed to call this
            endpoint. When given, unsigned or badly signed requests get 401.
        schedules: perdure extension: cron schedules of handlers served here (see
            `perdure.Schedule`); a perdure server runs them, restate-server ignores them.
    """
    return Endpoint(services, protocol=protocol, identity_keys=identity_keys, schedules=schedules)


class Endpoint:
    """The ASGI application `app()` returns; `services` are what it serves."""

    def __init__(
        self,
        services: Iterable[ServiceDefinition],
        protocol: ProtocolChoice | None = None,
        identity_keys: list[str] | None = None,
        schedules: Iterable[Schedule] = (),
    ) -> None:
        if protocol not in (None, "bidi", "request_response"):
            raise ValueError(f"protocol must be 'bidi' or 'request_response', got {protocol!r}")
        by_name: dict[str, ServiceDefinition] = {}
        for service in services:
            if not isinstance(service, ServiceDefinition):
                raise ValueError(
                    f"{service!r} is not a Service, VirtualObject or Workflow definition"
                )
            if service.name in by_name:
                raise ValueError(f"service {service.name} is bound twice")
            by_name[service.name] = service
        self._services = by_name
        self.schedules = tuple(schedules)
        names = [s.name for s in self.schedules]
        for schedule in self.schedules:
            if schedule.service not in by_name:
                raise ValueError(f"{schedule!r} invokes {schedule.service}, not served here")
            if names.count(schedule.name) > 1:
                raise ValueError(f"two schedules are named {schedule.name!r}: name them")
        self.protocol = protocol
        self._verifier = RequestVerifier.from_strings(tuple(identity_keys or ()))

    @property
    def services(self) -> tuple[ServiceDefinition, ...]:
        return tuple(self._services.values())

    def handler(self, service: str, handler: str) -> HandlerSpec | None:
        """The spec of `service`/`handler`, or None if this endpoint does not serve it."""
        definition = self._services.get(service)
        return None if definition is None else definition.handlers.get(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"perdure endpoints speak HTTP only, not {scope['type']}")
        path: str = scope["path"]
        segments = path.rstrip("/").split("/")
        if segments[-1] == "health":
            await _respond(send, receive, 200, "application/json", _HEALTH_BODY)
            return
        headers = _headers(scope)
        try:
            self._verifier.verify(path, headers)
        except IdentityError as e:
            logger.warning("rejecting %s: request identity: %s", path, e)
            await _respond(send, receive, 401)
            return
        if segments[-1] == "discover":
            reply = discover(
                self.services,
                headers.get("accept"),
                scope.get("http_version", "1.1"),
                self.protocol,
                self.schedules,
            )
            await _respond(send, receive, reply.status, reply.content_type, reply.body)
        elif len(segments) >= 3 and segments[-3] == "invoke":
            await self._invoke(segments[-2], segments[-1], headers, receive, send)
        else:
            await _respond(send, receive, 404)

    async def _invoke(
        self, service: str, handler: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        spec = self.handler(service, handler)
        if spec is None:
            await _respond(send, receive, 404)
            return
        version = parse_protocol_content_type(headers.get("content-type"))
        if version is None or not (
            MIN_SERVICE_PROTOCOL_VERSION <= version <= MAX_SERVICE_PROTOCOL_VERSION
        ):
            message = (
                f"unsupported content-type {headers.get('content-type')!r}; this endpoint "
                f"speaks {protocol_content_type(MIN_SERVICE_PROTOCOL_VERSION)} to "
                f"{protocol_content_type(MAX_SERVICE_PROTOCOL_VERSION)}"
            )
            await _respond(send, receive, 415, "text/plain", message.encode())
            return
        # Imported here: an endpoint that only answers discovery never loads the runtime.
        from perdure.sdk._run import run_attempt

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", protocol_content_type(version).encode()),
                    SERVER_HEADER,
                ],
            }
        )
        io = AsgiAttemptIO(receive, send)
        try:
            await run_attempt(spec, version, headers, io)
        except Exception:
            # The status is out already; ending the body without an End message makes the
            # server count this attempt as failed and retry it. Without such a message the
            # server would not end its side either, so do not wait for it.
            logger.exception("attempt of %s/%s failed in the SDK", service, handler)
            await io.finish(wait_for_input_end=False)
        else:
            await io.finish()


class AsgiAttemptIO:
    """`perdure.sdk._attempt.AttemptIO` over one ASGI HTTP request."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._input_done = False
        self._disconnected = False

    async def receive(self) -> bytes | None:
        """The next chunk of the request body; None once it ended (or the peer left)."""
        while not self._input_done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._input_done = self._disconnected = True
            elif message["type"] == "http.request":
                self._input_done = not message.get("more_body", False)
                body = message.get("body", b"")
                if body:
                    return bytes(body)
        return None

    async def send(self, data: bytes) -> None:
        """Write bytes of the response body (streamed, not buffered)."""
        if data and not self._disconnected:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self, wait_for_input_end: bool = True) -> None:
        """End the response body, by default only after the request body ended.

        hypercorn forgets an HTTP/2 stream as soon as its response ends, and would reset
        the server's still-open request side; so, as restate-sdk does, wait until the
        server ended its side (it does once it has the attempt's End or Suspension).
        """
        if wait_for_input_end:
            # Bounded: a server that never ends its side must not pin the stream forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INPUT_END_TIMEOUT_S):
                    while await self.receive() is not None:
                        pass
        if not self._disconnected:
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("utf-8", "replace")
        for name, value in scope.get("headers", ())
    }


async def _respond(
    send: Send, receive: Receive, status: int, content_type: str | None = None, body: bytes = b""
) -> None:
    headers = [SERVER_HEADER]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    # Read the request body to its end before finishing, as restate-sdk does: an HTTP/1.1
    # connection can then be reused, and an HTTP/2 peer that streams a body is not cut off.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to set up or tear down, but servers (hypercorn) expect the handshake.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
