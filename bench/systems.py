"""The systems under test, each started from scratch (a fresh work and data dir) with the
launchers of tests/support, its endpoint registered, and stopped again by its pids."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.support.endpoint import Endpoint, hypercorn, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.process import ManagedProcess
from tests.support.registration import register, wait_for_ingress_services
from tests.support.restate_server import ALWAYS_SUSPEND_ENV, BASE_ENV, RestateServer

BENCH = Path(__file__).resolve().parent
SERVICES_FILE = BENCH / "bench_services.py"
SERVICE_NAMES = ["Counter", "Fanout", "Noop", "SignUp", "Sleeper"]
SDK_ENV = "PERDURE_BENCH_SDK"

INACTIVITY_0 = "/inact0"
PERDURE_DURABILITY = "SQLite synchronous=FULL (perdure's default, not overridden)"
RESTATE_SETTINGS = (
    "restate-server 1.7.12, tests/support settings: "
    + ", ".join(f"{k}={v}" for k, v in BASE_ENV.items() if "PARTITIONS" in k or "ROCKSDB" in k)
    + "; durability: its defaults"
)


@dataclass(frozen=True)
class SystemSpec:
    """server: restate | perdure-server | perdure-dev; sdk of the endpoint: restate (official,
    under hypercorn), perdure (`perdure serve`), or None (embedded in `perdure dev`)."""

    base: str
    server: str
    sdk: str | None
    inactivity_0: bool = False

    @property
    def name(self) -> str:
        return self.base + (INACTIVITY_0 if self.inactivity_0 else "")

    @property
    def durability(self) -> str:
        return RESTATE_SETTINGS if self.server == "restate" else PERDURE_DURABILITY

    def server_env(self) -> dict[str, str]:
        # perdure reads restate's variable name for the same setting (server/config.py).
        return dict(ALWAYS_SUSPEND_ENV) if self.inactivity_0 else {}


BASE_SYSTEMS = {
    s.base: s
    for s in (
        SystemSpec("restate", "restate", "restate"),
        SystemSpec("perdure-server+official", "perdure-server", "restate"),
        SystemSpec("perdure-server+perdure", "perdure-server", "perdure"),
        SystemSpec("perdure-dev", "perdure-dev", None),
    )
}


def with_inactivity_0(spec: SystemSpec) -> SystemSpec:
    return SystemSpec(spec.base, spec.server, spec.sdk, inactivity_0=True)


@dataclass
class RunningSystem:
    spec: SystemSpec
    server: RestateServer | PerdureServer
    endpoint: Endpoint | None
    roles: dict[str, int] = field(default_factory=dict)  # role -> session leader pid

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    def processes(self) -> list[ManagedProcess]:
        parts = [self.server.process, self.endpoint.process if self.endpoint else None]
        return [p for p in parts if p is not None]

    def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        self.server.stop()


def _endpoint(spec: SystemSpec, workdir: Path) -> Endpoint:
    if spec.sdk == "restate":
        command = hypercorn("bench_services:app", workdir)
    else:
        command = perdure_serve(SERVICES_FILE)
    return Endpoint(
        f"{spec.sdk} endpoint",
        command,
        cwd=BENCH,
        log_path=workdir / "endpoint.log",
        env={SDK_ENV: spec.sdk or "perdure"},
        pythonpath=[BENCH],
    )


def start_system(spec: SystemSpec, workdir: Path) -> RunningSystem:
    """Start `spec` in the empty `workdir`; ready when the ingress routes to every service."""
    server: RestateServer | PerdureServer
    if spec.server == "restate":
        server = RestateServer(workdir / "server", spec.server_env())
    elif spec.server == "perdure-server":
        server = PerdureServer(workdir / "server", spec.server_env())
    else:
        server = PerdureServer(workdir / "server", spec.server_env(), app=SERVICES_FILE, cwd=BENCH)
    endpoint = _endpoint(spec, workdir / "endpoint") if spec.sdk is not None else None
    system = RunningSystem(spec, server, endpoint)
    try:
        server.start()
        if endpoint is not None:
            endpoint.start()
            register(server.admin_url, server.ingress_url, endpoint.uri)
        else:
            wait_for_ingress_services(server.ingress_url, SERVICE_NAMES)
    except BaseException:
        system.stop()
        raise
    assert server.process is not None and server.process.pid is not None
    system.roles["server"] = server.process.pid
    if endpoint is not None:
        assert endpoint.process is not None and endpoint.process.pid is not None
        system.roles["endpoint"] = endpoint.process.pid
    return system
