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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Stack:
    server: RestateServer
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
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and process.exit_code() is None:
            if port_accepts(port):
                return process, port
            time.sleep(0.05)
        log = process.log_text(limit=4000)
        process.stop()
    pytest.fail(f"perdure serve {APP_FILE.name} did not start; its log:\n{log}", pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("client-stack")
    server = RestateServer(workdir / "server")
    (workdir / "server").mkdir()
    server.start()
    try:
        endpoint, port = _start_endpoint(workdir)
    except BaseException:
        server.stop()
        raise
    started = Stack(server, endpoint)
    try:
        services = register_deployment(
            server.admin_url, f"http://127.0.0.1:{port}", use_http_11=False
        )
        wait_for_ingress_services(server.ingress_url, services)
        yield started
    finally:
        started.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    # Bounded, so a test that waits on something that never comes fails instead of hanging.
    async with connect(stack.ingress_url, timeout=30.0) as opened:
        yield opened


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex[:16]
