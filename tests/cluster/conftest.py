"""Fixtures of the cluster tests: a throwaway PostgreSQL of the test's own (tests restart
it), the test services on `perdure serve`, and cluster nodes stopped after the test (their
logs are attached to a failing test's report)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Node
from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.postgres import PostgresCluster

SERVICES = Path(__file__).with_name("services.py")
_NODES = pytest.StashKey[list[Node]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        for node in item.stash.get(_NODES, []):
            report.sections.append((f"node {node.name} log", node.log()[-8000:] or "(nothing)"))
    return report


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start_new()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Endpoint]:
    endpoint = Endpoint(
        "perdure serve",
        perdure_serve(SERVICES),
        cwd=tmp_path,
        log_path=tmp_path / "services.log",
        pythonpath=[SERVICES.parent.parent.parent],
    )
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


NodeFactory = Callable[..., list[Node]]


@pytest.fixture
def make_nodes(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresCluster
) -> Iterator[NodeFactory]:
    made: list[Node] = []
    request.node.stash[_NODES] = made
    url = postgres.create_database("perdure")

    def make(count: int, *, partitions: int = 16, lease_ttl: str = "3s") -> list[Node]:
        nodes = [
            Node(tmp_path, f"n{len(made) + i + 1}", url, partitions=partitions, lease_ttl=lease_ttl)
            for i in range(count)
        ]
        made.extend(nodes)
        return nodes

    make.url = url  # type: ignore[attr-defined]
    yield make
    for node in made:
        with contextlib.suppress(AssertionError, ProcessLookupError):
            node.signal(signal.SIGCONT)  # a paused node cannot stop
        node.stop()
