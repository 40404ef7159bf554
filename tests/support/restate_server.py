"""The real restate-server (npm @restatedev/restate-server), on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from .netns import loopback_only_problem
from .ports import IngressAdminPorts, free_port
from .process import ManagedProcess, start_until_ready

SERVER_VERSION = "1.7.12"
INSTALL_COMMAND = "scripts/install-interop"
_BINARY = "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server"

# Applied to every server. Retries start fast so tests that provoke a retryable failure do not
# wait the 500 ms default backoff; the cap keeps a stuck invocation (e.g. journal mismatch)
# from backing off for minutes while a test polls for its failure.
BASE_ENV: Mapping[str, str] = {
    "RESTATE_LISTEN_MODE": "tcp",
    "RESTATE_DISABLE_TELEMETRY": "true",
    "RESTATE_LOG_DISABLE_ANSI_CODES": "true",
    "RESTATE_LOG_FORMAT": "compact",
    "RESTATE_DEFAULT_NUM_PARTITIONS": "4",
    "RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE": "256MB",
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "100ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "1s",
}

ALWAYS_SUSPEND_ENV: Mapping[str, str] = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s"}


def npm_cache() -> Path:
    default = Path.home() / ".cache" / "perdure" / "npm"
    return Path(os.environ.get("PERDURE_NPM_CACHE", str(default)))


def server_binary() -> Path:
    return npm_cache() / _BINARY


def require_server_binary() -> Path:
    binary = server_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"restate-server {SERVER_VERSION} not found at {binary}; install it with "
            f"`{INSTALL_COMMAND}` (or `.ci/run`, which also installs everything else)",
            pytrace=False,
        )
    return binary


class RestateServer(IngressAdminPorts):
    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.extra_env = dict(env or {})
        self.process: ManagedProcess | None = None
        self._attempts = 0

    def start(self) -> None:
        problem = loopback_only_problem()
        if problem:
            pytest.fail(problem, pytrace=False)
        binary = require_server_binary()
        self._attempts = 0
        with httpx.Client(timeout=2.0) as client:
            self.process = start_until_ready(
                lambda: self._spawn(binary),
                lambda: self._probe(client),
                what="restate-server",
                timeout=60.0,
            )

    def _spawn(self, binary: Path) -> ManagedProcess:
        self._attempts += 1
        self.ingress_port, self.admin_port, node_port = free_port(), free_port(), free_port()
        base_dir = self.workdir / f"base-{self._attempts}"
        env = {
            # A minimal environment: no RESTATE_* leaking in from the caller's shell.
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            **BASE_ENV,
            "RESTATE_BASE_DIR": str(base_dir),
            "RESTATE_NODE_NAME": "interop",
            "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{self.ingress_port}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{self.admin_port}",
            "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node_port}",
            "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{node_port}/",
            **self.extra_env,
        }
        self.process = ManagedProcess(
            "restate-server",
            [str(binary), "--no-logo"],
            env=env,
            cwd=self.workdir,
            log_path=self.workdir / "restate-server.log",
        )
        self.process.start()
        return self.process

    def _probe(self, client: httpx.Client) -> bool:
        try:
            if client.get(f"{self.ingress_url}/restate/health").status_code != 200:
                return False
            if client.get(f"{self.admin_url}/health").status_code != 200:
                return False
            # Health answers before the partition processors run; the query engine answering
            # over the invocation table means invocations can be accepted and introspected.
            probe = client.post(
                f"{self.admin_url}/query",
                json={"query": "SELECT count(1) AS n FROM sys_invocation"},
                headers={"accept": "application/json"},
            )
            return probe.status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
