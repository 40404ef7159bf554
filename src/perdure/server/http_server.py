"""Serving the ingress and admin ASGI apps over HTTP/1.1: uvicorn with the httptools parser.

Chosen by measurement (bench/README.md): under load, uvicorn+httptools takes about a fifth
less CPU per ingress call than hypercorn's h11 (which `perdure serve` still uses, for the
h2c that streaming deployments need). The server's own commands handle SIGINT and
SIGTERM, so uvicorn must not take the process's signals: shutdown comes from an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_S = 2
KEEP_ALIVE_S = 75  # long calls wait for their invocation; idle clients keep their connection
HEAD_TIMEOUT_S = 10.0  # from the first byte of a request (or the connection) to its last header


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request head: a client that
    sends its request line and headers slowly (slowloris) gets 408 and is disconnected
    after HEAD_TIMEOUT_S instead of holding the connection forever. uvicorn bounds idle
    keep-alive connections, but not a head that never completes."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: 42\r\n\r\nthe request head did not arrive in time.\r\n"
)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # leave the process's signal handlers to its command


async def serve_http(app: Any, host: str, port: int, shutdown: asyncio.Event) -> None:
    """Serve `app` on host:port until `shutdown` is set (then finish within a bound)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="none",
        http=_Protocol,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
    )
    server = _Server(config)

    async def stop_on_shutdown() -> None:
        await shutdown.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stop_on_shutdown())
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when it cannot bind
        raise OSError(f"cannot serve on {host}:{port}; is the port in use?") from None
    finally:
        watcher.cancel()
