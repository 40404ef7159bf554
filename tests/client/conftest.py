"""The real restate-server 1.7.12 plus `perdure serve services/client_app.py`, registered:
what the client tests talk to. One stack for the session; tests keep apart by unique keys.

Process management, the loopback-only guard, launchers and registration are tests/support's.
Run via `scripts/test tests/client` (inside `unshare --net`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from perdure.client import Client, connect
from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.registration import register
from tests.support.restate_server import RestateServer

SERVICES_DIR = Path(__file__).resolve().parent / "services"
APP_FILE = SERVICES_DIR / "client_app.py"

SERVERS = ("restate", "perdure")


@dataclass
class Stack:
    kind: str  # "restate" or "perdure": which server
    server: RestateServer | PerdureServer
    endpoint: Endpoint

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    def stop(self) -> None:
        self.endpoint.stop()
        self.server.stop()


@pytest.fixture(scope="session", params=SERVERS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The same tests against both servers: the client must work with either."""
    workdir = tmp_path_factory.mktemp(f"client-stack-{request.param}")
    (workdir / "server").mkdir()
    server: RestateServer | PerdureServer
    if request.param == "restate":
        server = RestateServer(workdir / "server")
    else:
        server = PerdureServer(workdir / "server")
    server.start()
    endpoint = Endpoint(
        "perdure endpoint",
        perdure_serve(APP_FILE),
        cwd=SERVICES_DIR,
        log_path=workdir / "endpoint.log",
    )
    try:
        endpoint.start()
    except BaseException:
        server.stop()
        raise
    started = Stack(request.param, server, endpoint)
    try:
        register(
            server.admin_url,
            server.ingress_url,
            endpoint.uri,
            # perdure's invoker speaks HTTP/1.1 request-response (so far).
            use_http_11=request.param == "perdure",
        )
        yield started
    finally:
        started.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    # Bounded, so a test that waits on something that never comes fails instead of hanging.
    async with connect(stack.ingress_url, timeout=20.0) as opened:
        yield opened


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex[:16]
