"""The server under test: any Restate-compatible server reachable over ingress + admin HTTP.

`ServerUnderTest` is the whole interface the suite needs: start it with environment overrides
(Restate's `RESTATE_*` variable names), read its ingress and admin URLs, stop it. Two kinds:

- `restate`: the real restate-server 1.7.12 (validates the suite: a failure there is a test bug).
  It asks GitHub for its latest release at every start, so it only ever starts inside a network
  namespace with nothing but loopback (`scripts/test` creates one).
- `perdure`: `perdure server` (the default; the suite exists to prove it).

Chosen by PERDURE_CONFORMANCE_SERVER=restate|perdure. Both launchers are tests/support's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.netns import loopback_only_problem
from tests.support.perdure import PerdureServer as PerdureProcess
from tests.support.process import ManagedProcess
from tests.support.restate_server import BASE_ENV as RESTATE_BASE_ENV, RestateServer

SERVER_KIND_ENV = "PERDURE_CONFORMANCE_SERVER"
SERVER_KINDS = ("perdure", "restate")

# Applied to every server of the suite, whatever its kind (on top of tests/support's base
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


class ServerUnderTest:
    """One server process (tests/support's launcher); `env` holds `RESTATE_*` overrides."""

    kind: str

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = {**CONFORMANCE_ENV, **env}
        self._server: RestateServer | PerdureProcess

    @property
    def ingress_url(self) -> str:
        return self._server.ingress_url

    @property
    def admin_url(self) -> str:
        return self._server.admin_url

    def start(self) -> None:
        """Start and wait until ingress and admin answer their health checks."""
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def process(self) -> ManagedProcess | None:
        """The running process (its log is attached to failing tests)."""
        return self._server.process


class RealRestateServer(ServerUnderTest):
    kind = "restate"

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        super().__init__(workdir, env)
        # RestateServer refuses to start outside a loopback-only namespace (pytest.fail with
        # instructions), waits for /restate/health, /health and the query engine, stops by PID.
        self._server = RestateServer(workdir, self.env)

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


class PerdureServer(ServerUnderTest):
    kind = "perdure"

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        # Same retry pacing as the restate-server runs, so timings are comparable.
        super().__init__(workdir, {**_shared_restate_settings(), **env})
        hint = (
            "; or run the suite against the real server: "
            f"{SERVER_KIND_ENV}=restate scripts/test tests/conformance"
        )
        self._server = PerdureProcess(workdir, self.env, cli_hint=hint)


def _shared_restate_settings() -> dict[str, str]:
    # restate-server's base env minus what only restate-server understands (logging, RocksDB, the
    # node's own address): the retry pacing and partition count apply to any server.
    keep = ("RESTATE_DEFAULT_RETRY_POLICY__", "RESTATE_DEFAULT_NUM_PARTITIONS")
    return {k: v for k, v in RESTATE_BASE_ENV.items() if k.startswith(keep)}


def make_server(workdir: Path, env: Mapping[str, str]) -> ServerUnderTest:
    kind = server_kind()
    if kind == "restate":
        return RealRestateServer(workdir, env)
    return PerdureServer(workdir, env)
