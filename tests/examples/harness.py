"""Processes behind the example tests: a server (perdure's, or the real restate-server to
prove the tests themselves) and `perdure serve examples/<name>.py`, registered with it.

Process handling, ports and the loopback-only guard are the interop harness's
(tests/interop/harness), imported rather than duplicated.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
for _path in (REPO, EXAMPLES):  # tests.interop.harness; the examples' own `import fake_world`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.interop.harness.netns import loopback_only_problem  # noqa: E402
from tests.interop.harness.ports import free_port, port_accepts  # noqa: E402
from tests.interop.harness.process import ManagedProcess as ManagedProcess  # noqa: E402
from tests.interop.harness.restate_server import BASE_ENV, RestateServer  # noqa: E402

SERVER_KIND_ENV = "PERDURE_EXAMPLES_SERVER"

# For either server. Fast retry pacing: tests that provoke retries do not wait 500 ms each.
# Inactivity timeout 0: an invocation suspends at every await that is not complete yet, so
# each later step runs in a new attempt that replays the journal first. That is what a crash
# or a week-long wait does, and the examples' claims (steps run once, ctx.uuid() the same on
# every replay) are only tested when it happens.
SERVER_ENV = {
    **{k: v for k, v in BASE_ENV.items() if k.startswith("RESTATE_DEFAULT_RETRY_POLICY__")},
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s",
}


def server_kind() -> str:
    kind = os.environ.get(SERVER_KIND_ENV, "perdure")
    if kind not in ("perdure", "restate"):
        pytest.fail(f"{SERVER_KIND_ENV}={kind!r}: expected perdure or restate", pytrace=False)
    return kind


def perdure_cli() -> str:
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail(
            "the `perdure` command is not installed: pip install -e '.[dev]'", pytrace=False
        )
    return cli


def load_example(name: str) -> ModuleType:
    """examples/<name>.py as a module of this process (for its definitions and helpers).

    Registered as ``example_<name>``: plain names like ``interpreter`` are taken elsewhere.
    """
    module_name = f"example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before it runs: dataclasses resolve hints through it
    spec.loader.exec_module(module)
    return module


def wait_until(ready: Callable[[], bool], process: ManagedProcess, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.exit_code() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


class Server:
    """`perdure server` on a temp data dir, or restate-server (only in a loopback-only
    namespace: it phones home at every start)."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.ingress_port = self.admin_port = 0
        self.process: ManagedProcess | None = None
        self._restate: RestateServer | None = None

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        if self.kind == "restate":
            self._start_restate()
        else:
            self._start_perdure()

    def _start_restate(self) -> None:
        problem = loopback_only_problem()
        if problem:
            pytest.fail(f"{problem} (restate-server runs only under scripts/test)", pytrace=False)
        self._restate = RestateServer(self.workdir, SERVER_ENV)
        self._restate.start()
        self.ingress_port, self.admin_port = self._restate.ingress_port, self._restate.admin_port
        self.process = self._restate.process

    def _start_perdure(self) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        log = ""
        for attempt in range(3):  # a port may be taken between free_port() and bind
            self.ingress_port, self.admin_port = free_port(), free_port()
            argv = [
                perdure_cli(), "server",
                "--data-dir", str(self.workdir / f"data-{attempt}"),
                "--ingress-port", str(self.ingress_port),
                "--admin-port", str(self.admin_port),
                "--host", "127.0.0.1",
            ]  # fmt: skip
            self.process = ManagedProcess(
                "perdure server",
                argv,
                env={**base, **SERVER_ENV, "PYTHONUNBUFFERED": "1"},
                cwd=self.workdir,
                log_path=self.workdir / "perdure-server.log",
            )
            self.process.start()
            if wait_until(self._healthy, self.process, timeout=30.0):
                return
            log = self.process.log_text(limit=4000)
            self.stop()
        pytest.fail(f"perdure server did not become ready; its log:\n{log}", pytrace=False)

    def _healthy(self) -> bool:
        try:
            with httpx.Client(timeout=2.0) as http:
                return (
                    http.get(f"{self.ingress_url}/restate/health").status_code == 200
                    and http.get(f"{self.admin_url}/health").status_code == 200
                )
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self._restate is not None:
            self._restate.stop()
        elif self.process is not None:
            self.process.stop()


class Endpoint:
    """`perdure serve examples/<name>.py` on a free loopback port."""

    def __init__(self, name: str, workdir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.workdir = workdir
        self.env = dict(env)
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = ""
        for _ in range(3):
            self.port = free_port()
            argv = [
                perdure_cli(), "serve", str(EXAMPLES / f"{self.name}.py"),
                "--port", str(self.port), "--host", "127.0.0.1",
            ]  # fmt: skip
            self.process = ManagedProcess(
                f"perdure serve {self.name}.py",
                argv,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                cwd=self.workdir,
                log_path=self.workdir / f"{self.name}-endpoint.log",
            )
            self.process.start()
            if wait_until(lambda: port_accepts(self.port), self.process, timeout=30.0):
                return
            log = self.process.log_text(limit=4000)
            self.stop()
        pytest.fail(f"perdure serve {self.name}.py did not start; its log:\n{log}", pytrace=False)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def register(server: Server, endpoint: Endpoint) -> list[str]:
    return register_uri(server, endpoint.uri)


def register_uri(
    server: Server, uri: str, *, use_http_11: bool = False, timeout: float = 30.0
) -> list[str]:
    """``POST /deployments {"uri": …}`` (HTTP/2, as any client registers by default; with
    `use_http_11`, HTTP/1.1 request-response); then wait until the ingress routes to the
    deployment's services. Returns their names."""
    body: dict[str, object] = {"uri": uri}
    if use_http_11:
        body["use_http_11"] = True
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=10.0) as http:
        while True:
            try:
                response = http.post(f"{server.admin_url}/deployments", json=body)
                if response.status_code in (200, 201):
                    services = sorted(s["name"] for s in response.json()["services"])
                    break
                problem = f"{response.status_code} {response.text}"
            except httpx.TransportError as error:
                problem = repr(error)
            if time.monotonic() > deadline:
                pytest.fail(f"registering {uri} failed: {problem}", pytrace=False)
            time.sleep(0.2)
        while True:
            health = http.get(f"{server.ingress_url}/restate/health")
            known = set(health.json().get("services", [])) if health.status_code == 200 else set()
            if known.issuperset(services):
                return services
            if time.monotonic() > deadline:
                pytest.fail(f"the ingress does not route to {services} yet", pytrace=False)
            time.sleep(0.05)
