"""Real cluster nodes for the tests: `perdure server --node-name` processes on 127.0.0.1,
one throwaway PostgreSQL, a load of invocations sent through every node's ingress.

Each node is its own process (its own session, stopped by its pid): `stop` is SIGTERM
(a graceful stop), `kill` SIGKILL, `pause`/`resume` SIGSTOP/SIGCONT.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.perdure import perdure_cli, servers_healthy
from tests.support.polling import wait_until
from tests.support.ports import IngressAdminPorts, free_port
from tests.support.process import ManagedProcess

START_TIMEOUT_S = 60.0


class Node(IngressAdminPorts):
    def __init__(
        self, workdir: Path, name: str, store: str, *, partitions: int, lease_ttl: str
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.store = store
        self.partitions = partitions
        self.lease_ttl = lease_ttl
        self.log_path = workdir / f"node-{name}.log"
        self.process: ManagedProcess | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.pid is not None
        return self.process.pid

    def spawn(self) -> None:
        self.ingress_port, self.admin_port = free_port(), free_port()
        argv = [
            perdure_cli(), "server",
            "--store", self.store,
            "--node-name", self.name,
            "--partitions", str(self.partitions),
            "--lease-ttl", self.lease_ttl,
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
            "--host", "127.0.0.1",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTATE_", "PERDURE_"))}
        self.process = ManagedProcess(
            f"node {self.name}",
            argv,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=self.workdir,
            log_path=self.log_path,
        )
        self.process.start()

    def ready(self) -> bool:
        with httpx.Client(timeout=2.0) as client:
            return servers_healthy(client, self.ingress_url, self.admin_url)

    def wait_ready(self) -> None:
        assert self.process is not None
        if not wait_until(self.ready, self.process, START_TIMEOUT_S):
            raise AssertionError(f"node {self.name} did not start:\n{self.log()[-4000:]}")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=20.0)

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.stop()  # reaps it

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def start_nodes(nodes: Iterable[Node]) -> None:
    """Start several nodes at once (each joins as soon as it is up)."""
    nodes = list(nodes)
    for node in nodes:
        node.spawn()
    for node in nodes:
        node.wait_ready()


def register(admin_url: str, uri: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(f"{admin_url}/deployments", json={"uri": uri}, timeout=10)
        if response.status_code in (200, 201):
            return
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def sql(url: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query.encode(), args).fetchall()


def leases_by_node(url: str) -> dict[str, list[int]]:
    rows = sql(
        url,
        "SELECT node, partition FROM leases WHERE node IS NOT NULL AND expires_at > now() "
        "ORDER BY partition",
    )
    out: dict[str, list[int]] = {}
    for node, partition in rows:
        out.setdefault(node, []).append(partition)
    return out


@dataclass
class Load:
    """Invocations sent through the ingresses of `nodes`, each retried (on the next node,
    with the same idempotency key) until one answer accepted it."""

    nodes: list[Node]
    seed: int = 1
    timeout_s: float = 8.0
    accepted_adds: Tally[str] = field(default_factory=Tally)
    results: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    errors: Tally[str] = field(default_factory=Tally)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._turn = 0

    def _next_node(self) -> Node:
        self._turn += 1
        return self.nodes[self._turn % len(self.nodes)]

    async def send(
        self,
        client: httpx.AsyncClient,
        path: str,
        body: object,
        key: str | None,
        *,
        deadline: float,
    ) -> httpx.Response:
        """POST until some node accepts it (2xx). The idempotency key makes retries safe;
        without one (a workflow run: its key is its identity) none is sent."""
        headers = {} if key is None else {"idempotency-key": key}
        while True:
            node = self._next_node()
            try:
                response = await client.post(
                    f"{node.ingress_url}{path}", json=body, headers=headers, timeout=self.timeout_s
                )
                if response.is_success:
                    return response
                self.errors[f"{response.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.errors[type(exc).__name__] += 1
            self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} was never accepted; errors {dict(self.errors)}")
            await asyncio.sleep(0.1)

    async def get(self, client: httpx.AsyncClient, path: str, deadline: float) -> Any:
        """GET `path` from the nodes in turn until one answers 200; its JSON."""
        while True:
            node = self._next_node()
            try:
                response = await client.get(f"{node.ingress_url}{path}", timeout=self.timeout_s)
                if response.status_code == 200:
                    return response.json()
                self.errors[f"{response.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.errors[type(exc).__name__] += 1
            self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"GET {path} never answered; errors {dict(self.errors)}")
            await asyncio.sleep(0.1)

    async def add(self, client: httpx.AsyncClient, key: str, n: int, *, deadline: float) -> None:
        # A one-way send: accepted once committed (202), the add runs afterwards.
        await self.send(client, f"/Counter/{key}/add/send", 1, f"add-{key}-{n}", deadline=deadline)
        self.accepted_adds[key] += 1

    async def call(self, client: httpx.AsyncClient, key: str, n: int, *, deadline: float) -> None:
        # A call waits for the result, wherever the invocation runs.
        response = await self.send(
            client, f"/Counter/{key}/add", 1, f"call-{key}-{n}", deadline=deadline
        )
        self.accepted_adds[key] += 1
        self.results[f"call-{key}-{n}"] = response.json()


async def read_total(client: httpx.AsyncClient, node: Node, key: str) -> int | None:
    try:
        response = await client.post(f"{node.ingress_url}/Counter/{key}/get", json=None, timeout=5)
    except httpx.HTTPError:
        return None
    return int(response.json()) if response.status_code == 200 else None


async def wait_for_totals(nodes: list[Node], expected: dict[str, int], within: float) -> None:
    """Every counter reaches its expected total (read through any live node)."""
    deadline = time.monotonic() + within
    pending = dict(expected)
    async with httpx.AsyncClient() as client:
        while pending:
            for key, total in list(pending.items()):
                found = await read_total(client, random.choice(nodes), key)
                if found == total:
                    del pending[key]
                elif found is not None and found > total:
                    raise AssertionError(f"counter {key} is {found}, more than the {total} adds")
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"counters not reached in {within}s: {pending}")
            await asyncio.sleep(0.2)
