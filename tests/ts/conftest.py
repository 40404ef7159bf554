"""A server (perdure's, or restate-server with PERDURE_TS_SERVER=restate) and the TypeScript
SDK's services (services.cjs, run by node), registered; one stack per transport.

    scripts/test tests/ts
    PERDURE_TS_SERVER=restate scripts/test tests/ts     # proves the tests themselves
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.examples.harness import Server, make_server
from tests.support.polling import wait_until
from tests.support.process import ManagedProcess
from tests.support.registration import register
from tests.support.restate_server import INSTALL_COMMAND, npm_cache

SERVICES = Path(__file__).resolve().parent / "services.cjs"
SERVER_KIND_ENV = "PERDURE_TS_SERVER"
SDK_VERSION = "1.17.2"
TRANSPORTS = ("h2", "http1")  # bidirectional HTTP/2, request-response HTTP/1.1


@dataclass
class Stack:
    transport: str
    server: Server
    node: ManagedProcess

    def ingress(self) -> httpx.AsyncClient:
        """A new client of the server's ingress (use it with ``async with``)."""
        return httpx.AsyncClient(base_url=self.server.ingress_url, timeout=30.0)


def node_modules() -> Path:
    """The npm cache's node_modules holding the pinned TypeScript SDK; fails clearly if not."""
    path = npm_cache() / "node_modules"
    manifest = path / "@restatedev" / "restate-sdk" / "package.json"
    if not manifest.is_file():
        pytest.fail(
            f"@restatedev/restate-sdk {SDK_VERSION} is not installed in {path}; "
            f"run {INSTALL_COMMAND}",
            pytrace=False,
        )
    installed = json.loads(manifest.read_text()).get("version")
    if installed != SDK_VERSION:
        pytest.fail(
            f"{manifest} is version {installed}, not {SDK_VERSION}; run {INSTALL_COMMAND}",
            pytrace=False,
        )
    return path


def start_node(transport: str, workdir: Path) -> tuple[ManagedProcess, int]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (node 20 or later; .ci/run installs it)", pytrace=False)
    process = ManagedProcess(
        f"node services.cjs {transport}",
        [node, str(SERVICES), transport],
        env={**os.environ, "NODE_PATH": str(node_modules())},
        cwd=workdir,
        log_path=workdir / f"node-{transport}.log",
    )
    process.start()
    # It binds port 0 and prints the port the OS gave it: no race for a free port.
    found: list[int] = []

    def listening() -> bool:
        match = re.search(r"listening on (\d+)", process.log_text())
        if match:
            found.append(int(match.group(1)))
        return bool(match)

    if not wait_until(listening, process, timeout=30.0):
        log = process.log_text(limit=4000)
        process.stop()
        pytest.fail(f"node services.cjs {transport} did not start; its log:\n{log}", pytrace=False)
    return process, found[0]


@pytest.fixture(scope="module", params=TRANSPORTS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    transport: str = request.param
    kind = os.environ.get(SERVER_KIND_ENV, "perdure")
    workdir = tmp_path_factory.mktemp(f"ts-{transport}")
    node_modules()  # before starting anything: the clearest failure first
    server = make_server(kind, workdir / "server")
    (workdir / "server").mkdir()
    server.start()
    try:
        node, port = start_node(transport, workdir)
        try:
            register(
                server.admin_url,
                server.ingress_url,
                f"http://127.0.0.1:{port}",
                use_http_11=transport == "http1",
            )
            yield Stack(transport, server, node)
        finally:
            node.stop()
    finally:
        server.stop()
