"""Fixtures of the differential suite: restate-server 1.7.12 and perdure's server side by
side, the same deployments registered on both, one pair per set of services.

- `interop_servers`: the interop services (perdure's SDK, `perdure serve`) and the
  TypeScript SDK's services (node, tests/ts/services.cjs);
- `example_servers`: the conformance services (official restate-sdk 1.2.0 under
  hypercorn) and the example programs of services/ on both SDKs, each as a bidirectional
  deployment plus a request-response one (`/rr`) for the handlers that must suspend.

The conformance and interop services cannot share a server (both have a `Counter`), hence
two pairs; both live for the session (tests are grouped by module, each module uses one).
Both servers get the same retry pacing. restate-server only runs inside the loopback-only
namespace: run this suite through `scripts/test tests/differential`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conformance.endpoint import SERVICES_DIR as CONFORMANCE_DIR
from tests.interop.harness.effects import EFFECTS_DIR_ENV
from tests.interop.harness.endpoint import APP_FILE as INTEROP_APP, SERVICES_DIR as INTEROP_DIR
from tests.support import logs
from tests.support.endpoint import Endpoint, hypercorn, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.process import ManagedProcess
from tests.support.registration import register
from tests.support.restate_server import BASE_ENV, RestateServer
from tests.ts.conftest import start_node

from .harness import Servers

SERVICES_DIR = Path(__file__).resolve().parent / "services"
EXAMPLES_APP = SERVICES_DIR / "examples_app.py"
# The examples' service names end in the SDK's suffix: both SDKs serve side by side.
SDK_SUFFIX = {"perdure": "Pd", "restate": "Py"}
_SHARED_ENV = {k: v for k, v in BASE_ENV.items() if k.startswith("RESTATE_DEFAULT_RETRY_POLICY")}


@dataclass
class Pair:
    servers: Servers
    processes: list[ManagedProcess] = field(default_factory=list)


def _endpoint(name: str, workdir: Path, **kwargs: object) -> Endpoint:
    workdir.mkdir(parents=True, exist_ok=True)
    endpoint = Endpoint(name, log_path=workdir / f"{name}.log", **kwargs)  # type: ignore[arg-type]
    endpoint.start()
    return endpoint


def _servers(workdir: Path) -> tuple[RestateServer, PerdureServer]:
    (workdir / "restate").mkdir(parents=True)
    restate = RestateServer(workdir / "restate", _SHARED_ENV)
    perdure = PerdureServer(workdir / "perdure", _SHARED_ENV)
    restate.start()
    try:
        perdure.start()
    except BaseException:
        restate.stop()
        raise
    return restate, perdure


def _register_everywhere(
    restate: RestateServer, perdure: PerdureServer, uri: str, *, use_http_11: bool = False
) -> None:
    for server in (restate, perdure):
        register(server.admin_url, server.ingress_url, uri, use_http_11=use_http_11)


@pytest.fixture(scope="session")
def interop_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("differential-interop")
    effects = workdir / "effects"
    effects.mkdir()
    stoppers: list[Endpoint | ManagedProcess | RestateServer | PerdureServer] = []
    try:
        restate, perdure = _servers(workdir)
        stoppers += [restate, perdure]
        interop = _endpoint(
            "interop-endpoint",
            workdir,
            command=perdure_serve(INTEROP_APP),
            cwd=INTEROP_DIR,
            pythonpath=[INTEROP_DIR],
            env={"PERDURE_INTEROP_SDK": "perdure", EFFECTS_DIR_ENV: str(effects)},
        )
        stoppers.append(interop)
        _register_everywhere(restate, perdure, interop.uri)
        if shutil.which("node") is None:
            pytest.fail("node is not installed (.ci/run installs it)", pytrace=False)
        node, port = start_node("h2", workdir)
        stoppers.append(node)
        _register_everywhere(restate, perdure, f"http://127.0.0.1:{port}")
        processes = [restate.process, perdure.process, interop.process, node]
        yield Pair(
            Servers(
                (restate.ingress_url, restate.admin_url), (perdure.ingress_url, perdure.admin_url)
            ),
            [p for p in processes if p is not None],
        )
    finally:
        for stopper in reversed(stoppers):
            stopper.stop()


@pytest.fixture(scope="session")
def example_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("differential-examples")
    stoppers: list[Endpoint | RestateServer | PerdureServer] = []
    try:
        restate, perdure = _servers(workdir)
        stoppers += [restate, perdure]
        conformance = _endpoint(
            "conformance-endpoint",
            workdir,
            command=hypercorn("conformance_app:app", workdir / "hypercorn-conformance"),
            cwd=CONFORMANCE_DIR,
            pythonpath=[CONFORMANCE_DIR],
            health_path="/health",
        )
        stoppers.append(conformance)
        _register_everywhere(restate, perdure, conformance.uri)
        processes = [restate.process, perdure.process, conformance.process]
        for sdk, suffix in SDK_SUFFIX.items():
            command = (
                perdure_serve(EXAMPLES_APP)
                if sdk == "perdure"
                else hypercorn("examples_app:app", workdir / "hypercorn-examples")
            )
            examples = _endpoint(
                f"examples-{sdk}",
                workdir,
                command=command,
                cwd=SERVICES_DIR,
                pythonpath=[SERVICES_DIR],
                env={"DIFF_SDK": sdk, "DIFF_SUFFIX": suffix},
            )
            stoppers.append(examples)
            processes.append(examples.process)
            _register_everywhere(restate, perdure, examples.uri)
            _register_everywhere(restate, perdure, f"{examples.uri}/rr", use_http_11=True)
        yield Pair(
            Servers(
                (restate.ingress_url, restate.admin_url), (perdure.ingress_url, perdure.admin_url)
            ),
            [p for p in processes if p is not None],
        )
    finally:
        for stopper in reversed(stoppers):
            stopper.stop()


@pytest.fixture
def interop(interop_pair: Pair, request: pytest.FixtureRequest) -> Servers:
    logs.remember_log_offsets(request, interop_pair.processes)
    return interop_pair.servers


@pytest.fixture
def examples(example_pair: Pair, request: pytest.FixtureRequest) -> Servers:
    logs.remember_log_offsets(request, example_pair.processes)
    return example_pair.servers


@pytest.fixture(params=list(SDK_SUFFIX))
def sdk(request: pytest.FixtureRequest) -> str:
    """The examples' SDK: the suffix of its service names."""
    return SDK_SUFFIX[str(request.param)]
