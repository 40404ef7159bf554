"""Fixtures of the example tests: one server per session, one `perdure serve` per example.

    scripts/test tests/examples                                    # against perdure server
    PERDURE_EXAMPLES_SERVER=restate scripts/test tests/examples    # the real restate-server

The examples write their fake side effects under one folder (fake_world.py); the tests
read it to see what reached the "outside world", and how often.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from perdure.client import Client, connect
from tests.support import logs
from tests.support.endpoint import Endpoint
from tests.support.process import ManagedProcess

from .harness import (
    Server,
    example_endpoint,
    load_example,
    make_server,
    register_endpoint,
    server_kind,
)


@dataclass
class Example:
    name: str
    module: ModuleType  # examples/<name>.py, loaded here too (definitions, constants)
    server: Server
    endpoint: Endpoint

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    def processes(self) -> list[ManagedProcess]:
        return [p for p in (self.server.process, self.endpoint.process) if p is not None]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fake outside world's folder, for the endpoints (inherited env) and the tests."""
    import fake_world

    path = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(fake_world.DIR_ENV, str(path))
        yield path


@pytest.fixture(scope="session")
def server(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = make_server(server_kind(), tmp_path_factory.mktemp("server"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


def serve_example(
    name: str,
    server: Server,
    tmp_path_factory: pytest.TempPathFactory,
    env: Mapping[str, str] | None = None,
) -> Iterator[Example]:
    """For a module-scoped `example` fixture: serve examples/<name>.py and register it."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in (env or {}).items():
            patch.setenv(variable, value)  # the endpoint's settings, and the module's here
        endpoint = example_endpoint(name, tmp_path_factory.mktemp(name), env or {})
        endpoint.start()
        try:
            register_endpoint(server, endpoint)
            yield Example(name, load_example(name), server, endpoint)
        finally:
            endpoint.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    # Bounded: a test waiting for something that never comes fails instead of hanging.
    async with connect(server.ingress_url, timeout=30.0) as opened:
        yield opened


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _mark_logs(request: pytest.FixtureRequest) -> None:
    """Remember where the logs were, to attach what the processes logged to a failure."""
    if "example" not in request.fixturenames:
        return
    example: Example = request.getfixturevalue("example")
    logs.remember_log_offsets(request, example.processes())
