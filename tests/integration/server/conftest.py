"""Fixtures: a `perdure server` subprocess on a temp data dir, and official-SDK services.

Every process started here is stopped here, by PID. Everything binds to 127.0.0.1 on
ports the kernel reported free.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
STARTUP_DEADLINE_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll `predicate` until it holds; fail with `what` after the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class SdkServices:
    url: str
    effects_file: Path

    def effects(self) -> list[str]:
        if not self.effects_file.exists():
            return []
        return self.effects_file.read_text().splitlines()


@pytest.fixture(scope="module")
def sdk_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkServices]:
    """The services of sdk_services.py (official restate-sdk 1.2.0) under hypercorn."""
    folder = tmp_path_factory.mktemp("sdk")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE), PERDURE_TEST_EFFECTS=str(folder / "effects"))
    log = (folder / "hypercorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "sdk_services:app", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _http_ok(f"{url}/health"), STARTUP_DEADLINE_S, "the SDK services")
        yield SdkServices(url, folder / "effects")
    finally:
        _stop(process)
        log.close()


@dataclass
class PerdureServer:
    data_dir: Path
    log_path: Path
    ingress_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ingress(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "perdure.cli.server",
                    "--data-dir",
                    str(self.data_dir),
                    "--host",
                    "127.0.0.1",
                    "--ingress-port",
                    str(self.ingress_port),
                    "--admin-port",
                    str(self.admin_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"perdure server exited: {self.log_path.read_text()}")
            return _http_ok(f"{self.admin}/health") and _http_ok(f"{self.ingress}/restate/health")

        wait_until(up, STARTUP_DEADLINE_S, "perdure server")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def register(self, uri: str) -> httpx.Response:
        return httpx.post(
            f"{self.admin}/deployments", json={"uri": uri, "use_http_11": True}, timeout=30
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PerdureServer]:
    srv = PerdureServer(tmp_path / "data", tmp_path / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def registered(server: PerdureServer, sdk_services: SdkServices) -> PerdureServer:
    response = server.register(sdk_services.url)
    assert response.status_code == 201, response.text
    return server


@pytest.fixture
def ingress(registered: PerdureServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registered.ingress, timeout=30) as client:
        yield client


@pytest.fixture
def poll() -> Callable[[Callable[[], bool], float, str], None]:
    """`poll(predicate, deadline_s, what)`: wait for a condition, never a blind sleep."""
    return wait_until
