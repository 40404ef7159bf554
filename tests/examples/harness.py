"""Processes behind the example tests: a server (perdure's, or the real restate-server to
prove the tests themselves) and `perdure serve examples/<name>.py`, registered with it.

The launchers, process handling and ports are tests/support's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.registration import register
from tests.support.restate_server import BASE_ENV, RestateServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
if str(EXAMPLES) not in sys.path:  # the examples' own `import fake_world`
    sys.path.insert(0, str(EXAMPLES))

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

# `perdure server` on a temp data dir, or restate-server (only in a loopback-only namespace: it
# phones home at every start).
Server = PerdureServer | RestateServer


def server_kind() -> str:
    kind = os.environ.get(SERVER_KIND_ENV, "perdure")
    if kind not in ("perdure", "restate"):
        pytest.fail(f"{SERVER_KIND_ENV}={kind!r}: expected perdure or restate", pytrace=False)
    return kind


def make_server(kind: str, workdir: Path) -> Server:
    if kind == "restate":
        return RestateServer(workdir, SERVER_ENV)
    return PerdureServer(workdir, SERVER_ENV)


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


def example_endpoint(name: str, workdir: Path, env: Mapping[str, str]) -> Endpoint:
    """`perdure serve examples/<name>.py` on a free loopback port."""
    return Endpoint(
        f"perdure serve {name}.py",
        perdure_serve(EXAMPLES / f"{name}.py"),
        cwd=workdir,
        log_path=workdir / f"{name}-endpoint.log",
        env=env,
    )


def register_endpoint(server: Server, endpoint: Endpoint) -> list[str]:
    """Registered as any client registers by default (HTTP/2); routable when this returns."""
    return register(server.admin_url, server.ingress_url, endpoint.uri)
