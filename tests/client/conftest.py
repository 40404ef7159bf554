"""The real restate-server 1.7.12 plus `perdure serve services/client_app.py`, registered:
what the client tests talk to. One stack for the session; tests keep apart by unique keys.

Reuses the interop harness (tests/interop/harness): the same loopback-only guard, process
management and registration. Run via `scripts/test tests/client` (inside `unshare --net`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# pytest (--import-mode=importlib) names tests/interop's modules `interop.…`; importing the
# harness under that same name keeps one copy of it when both suites run in one session.
_TESTS_DIR = Path(__file__).resolve().parent.parent
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

from interop.harness.clients import register_deployment, wait_for_ingress_services  # noqa: E402
from interop.harness.ports import free_port, port_accepts  # noqa: E402
from interop.harness.process import ManagedProcess  # noqa: E402
from interop.harness.restate_server import RestateServer  # noqa: E402

from perdure.client import Client, connect  # noqa: E402

SERVICES_DIR = Path(__file__).resolve().parent / "services"
APP_FILE = SERVICES_DIR / "client_app.py"


class PerdureServer:
    """`perdure server` on SQLite in a temp folder, with the same surface as RestateServer."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ingress_port = 0
        self.admin_port = 0
        self.process: ManagedProcess | None = None

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        log = ""
        for attempt in range(3):
            self.ingress_port, self.admin_port = free_port(), free_port()
            self.process = ManagedProcess(
                "perdure server",
                [
                    _perdure_cli(),
                    "server",
                    "--data-dir",
                    str(self.workdir / f"data-{attempt}"),
                    "--ingress-port",
                    str(self.ingress_port),
                    "--admin-port",
                    str(self.admin_port),
                ],
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=self.workdir,
                log_path=self.workdir / "perdure-server.log",
            )
            self.process.start()
            if _wait_for(self.process, lambda: _healthy(self.ingress_url, self.admin_url)):
                return
            log = self.process.log_text(limit=4000)
            self.stop()
        pytest.fail(f"perdure server did not become ready; its log:\n{log}", pytrace=False)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def _healthy(ingress_url: str, admin_url: str) -> bool:
    try:
        with httpx.Client(timeout=2.0) as http:
            return (
                http.get(f"{ingress_url}/restate/health").status_code == 200
                and http.get(f"{admin_url}/health").status_code == 200
            )
    except httpx.TransportError:
        return False


def _wait_for(process: ManagedProcess, ready: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.exit_code() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


SERVERS = ("restate", "perdure")


@dataclass
class Stack:
    kind: str  # "restate" or "perdure": which server
    server: RestateServer | PerdureServer
    endpoint: ManagedProcess

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    def stop(self) -> None:
        self.endpoint.stop()
        self.server.stop()


def _perdure_cli() -> str:
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail("the `perdure` command is not installed; run `pip install -e '.[dev]'`")
    return cli


def _start_endpoint(workdir: Path) -> tuple[ManagedProcess, int]:
    for _ in range(3):
        port = free_port()
        process = ManagedProcess(
            "perdure endpoint",
            [_perdure_cli(), "serve", str(APP_FILE), "--port", str(port), "--host", "127.0.0.1"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=SERVICES_DIR,
            log_path=workdir / "endpoint.log",
        )
        process.start()
        if _wait_for(process, lambda: port_accepts(port)):  # noqa: B023 (used right away)
            return process, port
        log = process.log_text(limit=4000)
        process.stop()
    pytest.fail(f"perdure serve {APP_FILE.name} did not start; its log:\n{log}", pytrace=False)


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
    try:
        endpoint, port = _start_endpoint(workdir)
    except BaseException:
        server.stop()
        raise
    started = Stack(request.param, server, endpoint)
    try:
        services = register_deployment(
            server.admin_url,
            f"http://127.0.0.1:{port}",
            # perdure's invoker speaks HTTP/1.1 request-response (so far).
            use_http_11=request.param == "perdure",
        )
        wait_for_ingress_services(server.ingress_url, services)
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
