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

logger = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_S = 2
KEEP_ALIVE_S = 75  # long calls wait for their invocation; idle clients keep their connection


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
        http="httptools",
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
