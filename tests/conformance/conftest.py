"""Fixtures of the conformance suite (issue 3): restate-sdk services against a server under test.

Per session: one services process, and per configuration (default, always-suspending,
lazy-state) one server per profile in use (see stacks.py), all on 127.0.0.1. Tests keep apart by
unique keys. The server kind comes from PERDURE_CONFORMANCE_SERVER (servers.py).

Run everything through `scripts/test` (loopback-only network namespace), e.g.
    PERDURE_CONFORMANCE_SERVER=restate scripts/test tests/conformance
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import logs

from .client import Env, open_env
from .endpoint import ServicesProcess, make_signing_keys
from .stacks import CONFIGS, MAIN, PAUSING, SIGNING, STRICT, Profile, Stack, start_stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_sql_query: uses the admin API's POST /query (deselect with "
        "-m 'not needs_sql_query' for servers without it)",
    )


@pytest.fixture(scope="session", params=list(CONFIGS))
def server_config(request: pytest.FixtureRequest) -> str:
    config: str = request.param
    return config


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesProcess]:
    workdir = tmp_path_factory.mktemp("services")
    process = ServicesProcess(workdir, make_signing_keys(workdir))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _stack(
    config: str,
    profile: Profile,
    services: ServicesProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path_factory.mktemp(f"{config}-{profile.name}"), config, profile, services
    )
    try:
        yield stack
    finally:
        stack.stop()


# Session scope, keyed by server_config: pytest groups tests by configuration and tears these
# down when the configuration changes, so at most one server per profile runs at a time.
@pytest.fixture(scope="session")
def main_stack(
    server_config: str, services: ServicesProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from _stack(server_config, MAIN, services, tmp_path_factory)


@pytest.fixture(scope="session")
def strict_stack(
    server_config: str, services: ServicesProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from _stack(server_config, STRICT, services, tmp_path_factory)


@pytest.fixture(scope="session")
def pausing_stack(
    server_config: str, services: ServicesProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from _stack(server_config, PAUSING, services, tmp_path_factory)


@pytest.fixture(scope="session")
def signing_stack(
    server_config: str, services: ServicesProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from _stack(server_config, SIGNING, services, tmp_path_factory)


def _remember_logs(request: pytest.FixtureRequest, stack: Stack) -> None:
    """So a failing test's report carries what the server and the services logged during it."""
    logs.remember_log_offsets(request, [stack.server.process(), stack.services.process])


@pytest.fixture
async def env(main_stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    _remember_logs(request, main_stack)
    async with open_env(main_stack) as opened:
        yield opened


@pytest.fixture
async def strict_env(strict_stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    _remember_logs(request, strict_stack)
    async with open_env(strict_stack) as opened:
        yield opened


@pytest.fixture
async def pausing_env(pausing_stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    _remember_logs(request, pausing_stack)
    async with open_env(pausing_stack) as opened:
        yield opened


@pytest.fixture
async def signing_env(signing_stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    _remember_logs(request, signing_stack)
    async with open_env(signing_stack) as opened:
        yield opened
