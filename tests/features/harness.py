"""The whole server in the test's own event loop: a real SQLite store in a temp folder, the
engine, timers and invoker, one embedded app (the in-process transport), and the ingress
and admin apps reached through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from perdure.cli.dev import embedded_app
from perdure.sdk.endpoint import Endpoint
from perdure.server.app import Components
from perdure.server.clock import Clock, SystemClock
from perdure.server.config import ServerConfig
from perdure.server.embedded import register_embedded
from perdure.store.sqlite import SqliteStore

URI = "embedded:///features-test.py"
START_S = 10.0


@dataclass
class Server:
    components: Components
    ingress: httpx.AsyncClient
    admin: httpx.AsyncClient


@contextlib.asynccontextmanager
async def embedded_server(
    endpoint: Endpoint, data_dir: Path, clock: Clock | None = None, **config: Any
) -> AsyncIterator[Server]:
    """Run `endpoint`'s services on a server over `data_dir` (reuse it to restart)."""
    store = SqliteStore.open(data_dir)
    app = embedded_app(endpoint, URI)
    clock = clock or SystemClock()
    try:
        await register_embedded(store, [app], clock.now_ms())
        components = Components(ServerConfig(data_dir=data_dir, **config), store, clock, [app])
        running = asyncio.create_task(components.run())
        await asyncio.wait_for(components.started.wait(), START_S)
        ingress = httpx.ASGITransport(app=components.ingress)  # type: ignore[arg-type]
        admin = httpx.ASGITransport(app=components.admin)  # type: ignore[arg-type]
        try:
            async with (
                httpx.AsyncClient(transport=ingress, base_url="http://ingress", timeout=60) as i,
                # JSON answers from /query (restate's default is Arrow IPC).
                httpx.AsyncClient(
                    transport=admin,
                    base_url="http://admin",
                    timeout=60,
                    headers={"accept": "application/json"},
                ) as a,
            ):
                yield Server(components, i, a)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    finally:
        await store.close()
