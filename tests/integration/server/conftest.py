"""Fixtures: a `perdure server` subprocess on a temp data dir, and official-SDK services.

Every process started here is stopped here, by PID. Everything binds to 127.0.0.1 on
ports the kernel reported free.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually_sync, http_ok
from tests.support.ports import free_port
from tests.support.process import die_with_parent, stop_popen
from tests.support.stores import store_args

HERE = Path(__file__).parent
STARTUP_DEADLINE_S = 20.0


def wait_until(predicate: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll `predicate` until it holds; fail with `what` after the deadline."""
    eventually_sync(predicate, what=what, within=deadline_s)


@dataclass
class SdkServices:
    url: str
    effects_file: Path

    def effects(self) -> list[str]:
        if not self.effects_file.exists():
            return []
        return self.effects_file.read_text().splitlines()


ServeApp = Callable[[str, Mapping[str, str]], str]


@pytest.fixture(scope="module")
def serve_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeApp]:
    """`serve_app("module:app", env)`: serve an ASGI app of this folder under hypercorn on
    a free loopback port, with `env` added to the environment; returns its URL. Every
    process it started is stopped when the module's tests are done."""
    processes: list[subprocess.Popen[bytes]] = []

    def serve(app: str, extra_env: Mapping[str, str]) -> str:
        folder = tmp_path_factory.mktemp("app")
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(HERE), **extra_env}
        with (folder / "hypercorn.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{app} exited: {(folder / 'hypercorn.log').read_text()}")
            return http_ok(f"{url}/health")

        wait_until(up, STARTUP_DEADLINE_S, f"{app} to serve")
        return url

    try:
        yield serve
    finally:
        for process in processes:
            stop_popen(process)


@pytest.fixture(scope="module")
def sdk_services(serve_app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> SdkServices:
    """The services of sdk_services.py (official restate-sdk 1.2.0) under hypercorn."""
    effects = tmp_path_factory.mktemp("sdk") / "effects"
    url = serve_app("sdk_services:app", {"PERDURE_TEST_EFFECTS": str(effects)})
    return SdkServices(url, effects)


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
                    # PERDURE_TEST_STORE=postgres: the data dir's database in PostgreSQL.
                    *store_args(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"perdure server exited: {self.log_path.read_text()}")
            return http_ok(f"{self.admin}/health") and http_ok(f"{self.ingress}/restate/health")

        wait_until(up, STARTUP_DEADLINE_S, "perdure server")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_popen(self.process)

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
