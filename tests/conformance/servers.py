"""The server under test: any Restate-compatible server reachable over ingress + admin HTTP.

`ServerUnderTest` is the whole interface the suite needs: start it with environment overrides
(Restate's `RESTATE_*` variable names), read its ingress and admin URLs, stop it. Two kinds:

- `restate`: the real restate-server 1.7.12 (validates the suite: a failure there is a test bug).
  It asks GitHub for its latest release at every start, so it only ever starts inside a network
  namespace with nothing but loopback (`scripts/test` creates one).
- `perdure`: `perdure server` (the default; the suite exists to prove it).

Chosen by PERDURE_CONFORMANCE_SERVER=restate|perdure. The restate-server plumbing (binary lookup,
netns guard, ports, process handling) is the interop harness's, imported rather than duplicated.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from .interop import (
    BASE_ENV as RESTATE_BASE_ENV,
    ManagedProcess,
    RestateServer,
    free_port,
    loopback_only_problem,
)

SERVER_KIND_ENV = "PERDURE_CONFORMANCE_SERVER"
SERVER_KINDS = ("perdure", "restate")

# Applied to every server of the suite, whatever its kind (on top of the interop harness's base
# settings for restate-server: fast retries, log format, partitions).
CONFORMANCE_ENV: Mapping[str, str] = {
    # Idempotency re-execution after retention needs the cleaner to pass often.
    "RESTATE_WORKER__CLEANUP_INTERVAL": "1s",
}


def server_kind() -> str:
    kind = os.environ.get(SERVER_KIND_ENV, "perdure")
    if kind not in SERVER_KINDS:
        pytest.fail(f"{SERVER_KIND_ENV}={kind!r}; expected one of {SERVER_KINDS}", pytrace=False)
    return kind


class ServerUnderTest(ABC):
    """One server process; `env` holds `RESTATE_*` overrides for this instance."""

    kind: str

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = {**CONFORMANCE_ENV, **env}

    @property
    @abstractmethod
    def ingress_url(self) -> str: ...

    @property
    @abstractmethod
    def admin_url(self) -> str: ...

    @abstractmethod
    def start(self) -> None:
        """Start and wait until ingress and admin answer their health checks."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def process(self) -> ManagedProcess | None:
        """The running process (its log is attached to failing tests)."""


class RealRestateServer(ServerUnderTest):
    kind = "restate"

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        super().__init__(workdir, env)
        # RestateServer refuses to start outside a loopback-only namespace (pytest.fail with
        # instructions), waits for /restate/health, /health and the query engine, stops by PID.
        self._server = RestateServer(workdir, self.env)

    @property
    def ingress_url(self) -> str:
        return self._server.ingress_url

    @property
    def admin_url(self) -> str:
        return self._server.admin_url

    def start(self) -> None:
        problem = loopback_only_problem()
        if problem:
            # restate-server phones home at every start: never outside the isolated namespace.
            pytest.fail(
                f"{problem}. For this suite: PERDURE_CONFORMANCE_SERVER=restate scripts/test "
                "tests/conformance (or: unshare -n sh -c 'ip link set lo up && exec python -m "
                "pytest tests/conformance')",
                pytrace=False,
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def process(self) -> ManagedProcess | None:
        return self._server.process


class PerdureServer(ServerUnderTest):
    kind = "perdure"

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        # Same retry pacing as the restate-server runs, so timings are comparable.
        super().__init__(workdir, {**_shared_restate_settings(), **env})
        self.ingress_port = 0
        self.admin_port = 0
        self._process: ManagedProcess | None = None

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, attempts: int = 3) -> None:
        cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
        if not os.access(cli, os.X_OK):
            pytest.fail(
                "the `perdure` command is not installed (pip install -e '.[dev]'); or run the "
                f"suite against the real server: {SERVER_KIND_ENV}=restate scripts/test "
                "tests/conformance",
                pytrace=False,
            )
        for attempt in range(1, attempts + 1):
            self._spawn(cli, attempt)
            if _wait_healthy(self, self._process, timeout=30.0):
                return
            assert self._process is not None
            log = self._process.log_text(limit=4000)
            self.stop()
            if attempt == attempts:
                pytest.fail(f"perdure server did not become ready; its log:\n{log}", pytrace=False)

    def _spawn(self, cli: str, attempt: int) -> None:
        self.ingress_port, self.admin_port = free_port(), free_port()
        data_dir = self.workdir / f"data-{attempt}"
        # No RESTATE_* from the caller's shell: only what this configuration asks for.
        base = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        argv = [
            cli, "server",
            "--data-dir", str(data_dir),
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
            "--host", "127.0.0.1",
        ]  # fmt: skip
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process = ManagedProcess(
            "perdure server",
            argv,
            env={**base, **self.env, "PYTHONUNBUFFERED": "1"},
            cwd=self.workdir,
            log_path=self.workdir / "perdure-server.log",
        )
        self._process.start()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def process(self) -> ManagedProcess | None:
        return self._process


def _shared_restate_settings() -> dict[str, str]:
    # The interop base env minus what only restate-server understands (logging, RocksDB, the
    # node's own address): the retry pacing and partition count apply to any server.
    keep = ("RESTATE_DEFAULT_RETRY_POLICY__", "RESTATE_DEFAULT_NUM_PARTITIONS")
    return {k: v for k, v in RESTATE_BASE_ENV.items() if k.startswith(keep)}


def _wait_healthy(server: ServerUnderTest, process: ManagedProcess | None, timeout: float) -> bool:
    assert process is not None
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.exit_code() is not None:
                return False
            try:
                ingress = client.get(f"{server.ingress_url}/restate/health")
                admin = client.get(f"{server.admin_url}/health")
                if ingress.status_code == 200 and admin.status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    return False


def make_server(workdir: Path, env: Mapping[str, str]) -> ServerUnderTest:
    kind = server_kind()
    if kind == "restate":
        return RealRestateServer(workdir, env)
    return PerdureServer(workdir, env)
