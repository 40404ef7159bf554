"""The services under test behind a server, registered and routable: one stack per config.

Over HTTP: the real restate-server plus an endpoint process serving the services. Embedded:
`perdure dev` hosting the same services in-process (no restate-server, no HTTP hop), so the
same scenarios check that embedded mode behaves like the HTTP path.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.process import ManagedProcess
from tests.support.registration import register, wait_for_ingress_services
from tests.support.restate_server import ALWAYS_SUSPEND_ENV, RestateServer

from .clients import Admin, Ingress
from .dev_server import DevServer
from .effects import EffectStore
from .endpoint import SDK_ENV, ServiceEndpoint, sdk_under_test

TRANSPORTS = ("http2", "http11")
EMBEDDED = "embedded"  # `perdure dev`: the services run inside the server's process
INACTIVITY = ("default", "0s")


@dataclass(frozen=True)
class StackConfig:
    """transport: how the server talks to the endpoint (h2c bidi, HTTP/1.1 request-response, or
    embedded: in-process, under `perdure dev`); inactivity: the server's inactivity timeout
    ("0s" = suspend at every await)."""

    transport: str
    inactivity: str

    def __str__(self) -> str:
        return f"{self.transport}-inactivity-{self.inactivity}"

    @property
    def use_http_11(self) -> bool:
        return self.transport == "http11"

    @property
    def embedded(self) -> bool:
        return self.transport == EMBEDDED

    def server_env(self) -> dict[str, str]:
        return dict(ALWAYS_SUSPEND_ENV) if self.inactivity == "0s" else {}


HTTP_CONFIGS = [StackConfig(t, i) for i in INACTIVITY for t in TRANSPORTS]
# Only perdure apps can be embedded; validating the harness with restate-sdk skips these.
EMBEDDED_CONFIGS = (
    [StackConfig(EMBEDDED, i) for i in INACTIVITY]
    if os.environ.get(SDK_ENV, "perdure") == "perdure"
    else []
)
ALL_CONFIGS = HTTP_CONFIGS + EMBEDDED_CONFIGS


@dataclass
class Stack:
    config: StackConfig
    server: RestateServer | DevServer
    endpoint: ServiceEndpoint | None  # None when embedded: the server hosts the services
    effects: EffectStore
    services: list[str] = field(default_factory=list)

    def processes(self) -> list[ManagedProcess]:
        endpoint = self.endpoint.process if self.endpoint is not None else None
        return [p for p in (self.server.process, endpoint) if p is not None]

    def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        self.server.stop()


def start_stack(
    workdir: Path,
    config: StackConfig,
    *,
    server_env: Mapping[str, str] | None = None,
    identity_keys: Sequence[str] = (),
) -> Stack:
    effects_dir = workdir / "effects"
    effects_dir.mkdir(parents=True, exist_ok=True)
    if config.embedded:
        assert not identity_keys, "embedded mode has no HTTP hop to sign"
        return _start_embedded(workdir, config, effects_dir, server_env or {})
    server = RestateServer(workdir / "server", {**config.server_env(), **(server_env or {})})
    endpoint = ServiceEndpoint(
        workdir / "endpoint",
        sdk=sdk_under_test(),
        effects_dir=effects_dir,
        identity_keys=identity_keys,
    )
    (workdir / "server").mkdir(exist_ok=True)
    (workdir / "endpoint").mkdir(exist_ok=True)
    stack = Stack(config, server, endpoint, EffectStore(effects_dir))
    try:
        server.start()
        endpoint.start()
        stack.services = register(
            server.admin_url, server.ingress_url, endpoint.uri, use_http_11=config.use_http_11
        )
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_embedded(
    workdir: Path, config: StackConfig, effects_dir: Path, server_env: Mapping[str, str]
) -> Stack:
    (workdir / "server").mkdir(exist_ok=True)
    server = DevServer(workdir / "server", effects_dir, {**config.server_env(), **server_env})
    stack = Stack(config, server, None, EffectStore(effects_dir))
    try:
        server.start()
        stack.services = server.services()
        wait_for_ingress_services(server.ingress_url, stack.services)
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class Env:
    """What a test gets: clients for one stack, its side-effect store and a unique key."""

    stack: Stack
    ingress: Ingress
    admin: Admin
    key: str

    @property
    def effects(self) -> EffectStore:
        return self.stack.effects

    def new_key(self) -> str:
        return uuid.uuid4().hex[:16]


@contextlib.asynccontextmanager
async def open_env(stack: Stack) -> AsyncIterator[Env]:
    # Generous read timeout: attach and blocking calls wait for handlers; each test bounds its
    # own waits well below the per-test timeout.
    timeout = httpx.Timeout(30.0, connect=5.0)
    async with (
        httpx.AsyncClient(base_url=stack.server.ingress_url, timeout=timeout) as ingress,
        httpx.AsyncClient(base_url=stack.server.admin_url, timeout=timeout) as admin,
    ):
        yield Env(stack, Ingress(ingress), Admin(admin), uuid.uuid4().hex[:16])
