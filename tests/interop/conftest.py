"""Fixtures for the interop suite: the real restate-server 1.7.12 driving the SDK under test,
and perdure's own server hosting the same services in embedded mode (`perdure dev`).

One stack (server + endpoint, registered; or `perdure dev`) per configuration for the whole
session; tests keep apart by unique keys. Configurations: transport {http2 (h2c bidi), http11
(request-response), embedded (in-process, perdure only)} x inactivity timeout {default, 0s
(always suspending)}. The SDK under test is perdure unless PERDURE_INTEROP_SDK=restate (the
official SDK, to validate the harness; no embedded configurations then).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import logs

from .harness.stack import ALL_CONFIGS, Env, Stack, StackConfig, open_env, start_stack


@pytest.fixture(scope="session", params=ALL_CONFIGS, ids=str)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    config: StackConfig = request.param
    started = start_stack(tmp_path_factory.mktemp(f"stack-{config}"), config)
    try:
        yield started
    finally:
        started.stop()


def remember_log_offsets(request: pytest.FixtureRequest, stack: Stack) -> None:
    """So a failing test's report carries what the server and endpoint logged during it."""
    logs.remember_log_offsets(request, stack.processes())


@pytest.fixture
async def env(stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    remember_log_offsets(request, stack)
    async with open_env(stack) as opened:
        yield opened
