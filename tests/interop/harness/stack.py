"""A restate-server plus the services under test, registered and routable: one per config."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .clients import Admin, Ingress, register_deployment, wait_for_ingress_services
from .effects import EffectStore
from .endpoint import ServiceEndpoint, sdk_under_test
from .process import ManagedProcess
from .restate_server import ALWAYS_SUSPEND_ENV, RestateServer

TRANSPORTS = ("http2", "http11")
INACTIVITY = ("default", "0s")


@dataclass(frozen=True)
class StackConfig:
    """transport: how the server talks to the endpoint (h2c bidi or HTTP/1.1 request-response);
    inactivity: the server's inactivity timeout ("0s" = suspend at every await)."""

    transport: str
    inactivity: str

    def __str__(self) -> str:
        return f"{self.transport}-inactivity-{self.inactivity}"

    @property
    def use_http_11(self) -> bool:
        return self.transport == "http11"

    def server_env(self) -> dict[str, str]:
        return dict(ALWAYS_SUSPEND_ENV) if self.inactivity == "0s" else {}


ALL_CONFIGS = [StackConfig(t, i) for i in INACTIVITY for t in TRANSPORTS]


@dataclass
class Stack:
    config: StackConfig
    server: RestateServer
    endpoint: ServiceEndpoint
    effects: EffectStore
    services: list[str] = field(default_factory=list)

    def processes(self) -> list[ManagedProcess]:
        return [p for p in (self.server.process, self.endpoint.process) if p is not None]

    def stop(self) -> None:
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
        stack.services = register_deployment(
            server.admin_url, endpoint.uri, use_http_11=config.use_http_11
        )
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
