"""Cluster mode's cost and its failover time (issue 10), on this machine.

    python bench/cluster.py                  # about 6 minutes
    python bench/cluster.py --quick          # about 2 minutes: fewer calls, 3 kills
    python bench/cluster.py --json out.json  # the figures, for keeping

Throughput: the same workloads against perdure server on SQLite (one node), on PostgreSQL
(one node, no cluster), and as a cluster of 1, 2 and 3 nodes on one PostgreSQL, the calls
spread round-robin over every node's ingress; services on one `perdure serve` (perdure's
SDK, bench/bench_services.py). Every server, PostgreSQL and the load generator share this
machine's cores, so more nodes cannot be faster: the figures show what the cluster path
(fenced transactions, calls routed through partition inboxes, results sent back to the
node that waits) costs next to one node.

Failover: with three nodes under a trickle of calls, kill -9 one node and time until a call
to a key in one of its partitions, sent through another node at the moment of the kill, is
answered (the lease expires, another node takes the partition over, recovers it and applies
the routed call); the node is restarted and the cluster rebalanced before the next kill.
p50 and max over the kills.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402

from perdure.protocol.ids import partition_key_for  # noqa: E402
from perdure.store.partitioning import partition_of  # noqa: E402
from tests.support.endpoint import Endpoint, perdure_serve  # noqa: E402
from tests.support.perdure import perdure_cli, servers_healthy  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.ports import IngressAdminPorts, free_port  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.process import ManagedProcess  # noqa: E402

SERVICES = BENCH / "bench_services.py"


class Server(IngressAdminPorts):
    """`perdure server`: on SQLite (`store` None), on PostgreSQL, or as a cluster node."""

    def __init__(
        self,
        workdir: Path,
        label: str,
        store: str | None,
        node: str | None,
        partitions: int,
        lease_ttl: str,
    ) -> None:
        self.workdir, self.label, self.store, self.node = workdir, label, store, node
        self.partitions, self.lease_ttl = partitions, lease_ttl
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        self.ingress_port, self.admin_port = free_port(), free_port()
        argv = [
            perdure_cli(),
            "server",
            "--host",
            "127.0.0.1",
            "--ingress-port",
            str(self.ingress_port),
            "--admin-port",
            str(self.admin_port),
            "--data-dir",
            str(self.workdir / f"data-{self.label}"),
        ]
        if self.store is not None:
            argv += ["--store", self.store, "--partitions", str(self.partitions)]
        if self.node is not None:
            argv += ["--node-name", self.node, "--lease-ttl", self.lease_ttl]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTATE_", "PERDURE_"))}
        self.process = ManagedProcess(
            self.label,
            argv,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=self.workdir,
            log_path=self.workdir / f"{self.label}.log",
        )
        self.process.start()

    def wait_ready(self) -> None:
        assert self.process is not None
        with httpx.Client(timeout=2.0) as client:
            ready = wait_until(
                lambda: servers_healthy(client, self.ingress_url, self.admin_url),
                self.process,
                60,
            )
        if not ready:
            raise SystemExit(f"{self.label} did not start:\n{self.process.log_text(limit=3000)}")

    def kill(self) -> None:
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=20)


def register(server: Server, uri: str) -> None:
    deadline = time.monotonic() + 30
    while httpx.post(
        f"{server.admin_url}/deployments", json={"uri": uri}, timeout=10
    ).status_code not in (200, 201):
        if time.monotonic() > deadline:
            raise SystemExit(f"registering {uri} with {server.label} failed")
        time.sleep(0.2)


def leases(url: str) -> dict[str, set[int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT node, partition FROM leases WHERE node IS NOT NULL AND expires_at > now()"
        ).fetchall()
    out: dict[str, set[int]] = {}
    for node, partition in rows:
        out.setdefault(node, set()).add(partition)
    return out


def wait_balanced(url: str, names: set[str], partitions: int, within: float = 90) -> None:
    share = -(-partitions // len(names))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        held = leases(url)
        if (
            set(held) == names
            and sum(map(len, held.values())) == partitions
            and all(len(p) <= share for p in held.values())
        ):
            return
        time.sleep(0.2)
    raise SystemExit(f"the cluster did not balance over {sorted(names)}: {leases(url)}")


# ---- throughput ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    title: str

    def request(self, tag: str, i: int) -> tuple[str, object]:
        if self.name == "noop":
            return "/Noop/echo", i
        return f"/Counter/{tag}-{i % 100}/add", 1


WORKLOADS = [
    Workload("noop", "no-op service call (unkeyed)"),
    Workload("counter", "counter add, 100 keys (virtual object)"),
]


async def closed_loop(
    urls: list[str], workload: Workload, tag: str, requests: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    per_key: Counter[str] = Counter()
    next_index = 0
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < requests:
                i, next_index = next_index, next_index + 1
                path, body = workload.request(tag, i)
                started = time.perf_counter()
                try:
                    async with session.post(urls[i % len(urls)] + path, json=body) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failures[type(exc).__name__] += 1
                    continue
                if status != 200:
                    failures[f"HTTP {status}"] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if workload.name == "counter":
                    per_key[path] += 1

        wall = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - wall
        exact = None
        if workload.name == "counter":
            exact = await _exact_counts(session, urls[0], per_key)
    latencies.sort()
    return {
        "calls": len(latencies),
        "failed": dict(failures),
        "per_s": len(latencies) / wall if wall else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
        "exact": exact,
    }


async def _exact_counts(session: aiohttp.ClientSession, url: str, per_key: Counter[str]) -> bool:
    for path, adds in per_key.items():
        async with session.post(url + path.replace("/add", "/get"), json=None) as response:
            if response.status != 200 or json.loads(await response.read()) != adds:
                return False
    return True


def throughput(
    workdir: Path, postgres: PostgresCluster, endpoint: Endpoint, args: argparse.Namespace
) -> list[dict[str, Any]]:
    systems: list[tuple[str, list[Server]]] = [
        (
            "sqlite, 1 node",
            [Server(workdir, "sqlite", None, None, args.partitions, args.lease_ttl)],
        ),
        (
            "postgres, 1 node (no cluster)",
            [
                Server(
                    workdir, "pg", postgres.create_database(), None, args.partitions, args.lease_ttl
                )
            ],
        ),
    ]
    for count in (1, 2, 3):
        url = postgres.create_database()
        systems.append(
            (
                f"cluster, {count} node{'s' * (count > 1)}",
                [
                    Server(workdir, f"c{count}-n{i}", url, f"n{i}", args.partitions, args.lease_ttl)
                    for i in range(1, count + 1)
                ],
            )
        )
    rows = []
    for label, servers in systems:
        for server in servers:
            server.start()
        try:
            for server in servers:
                server.wait_ready()
            register(servers[0], endpoint.uri)
            if servers[0].node is not None:
                assert servers[0].store is not None
                wait_balanced(servers[0].store, {s.node or "" for s in servers}, args.partitions)
            urls = [s.ingress_url for s in servers]
            for workload in WORKLOADS:
                asyncio.run(closed_loop(urls, workload, "warm", args.warmup, args.concurrency))
                one = asyncio.run(closed_loop(urls, workload, "seq", args.sequential, 1))
                figures = asyncio.run(
                    closed_loop(urls, workload, "run", args.requests, args.concurrency)
                )
                rows.append(
                    {
                        "system": label,
                        "workload": workload.name,
                        **figures,
                        "sequential_p50_ms": one["p50_ms"],
                    }
                )
                print(_row(rows[-1]), flush=True)
        finally:
            for server in servers:
                server.stop()
    return rows


def _row(row: dict[str, Any]) -> str:
    p50 = f"{row['p50_ms']:.1f}" if row["p50_ms"] is not None else "-"
    p99 = f"{row['p99_ms']:.1f}" if row["p99_ms"] is not None else "-"
    exact = {None: "", True: "exact", False: "!!! WRONG COUNT"}[row["exact"]]
    failed = f" failed {row['failed']}" if row["failed"] else ""
    seq = f"{row['sequential_p50_ms']:.1f}" if row["sequential_p50_ms"] is not None else "-"
    return (
        f"  {row['system']:<30} {row['workload']:<8} one at a time p50 {seq:>5} ms | "
        f"{row['per_s']:5.0f}/s  p50 {p50:>6} ms  p99 {p99:>6} ms  {exact}{failed}"
    )


# ---- failover -------------------------------------------------------------------------------


def key_in(partition: int, partitions: int) -> str:
    n = 0
    while partition_of(partition_key_for(f"fo-{n}"), partitions) != partition:
        n += 1
    return f"fo-{n}"


def failover(
    workdir: Path, postgres: PostgresCluster, endpoint: Endpoint, args: argparse.Namespace
) -> list[float]:
    url = postgres.create_database()
    nodes = [
        Server(workdir, f"fo-n{i}", url, f"n{i}", args.partitions, args.lease_ttl)
        for i in (1, 2, 3)
    ]
    for node in nodes:
        node.start()
    times: list[float] = []
    try:
        for node in nodes:
            node.wait_ready()
        register(nodes[0], endpoint.uri)
        names = {n.node or "" for n in nodes}
        wait_balanced(url, names, args.partitions)
        for kill in range(args.kills):
            victim = nodes[kill % 3]
            other = nodes[(kill + 1) % 3]
            partition = min(leases(url)[victim.node or ""])
            key = key_in(partition, args.partitions)
            with httpx.Client(timeout=120) as client:
                warm = client.post(f"{other.ingress_url}/Counter/{key}/add", json=1)
                assert warm.status_code == 200, warm.text
                victim.kill()
                killed = time.perf_counter()
                answer = client.post(f"{other.ingress_url}/Counter/{key}/add", json=1)
                took = time.perf_counter() - killed
            assert answer.status_code == 200, answer.text
            times.append(took)
            print(
                f"  kill {kill + 1}: node {victim.node} (partition {partition}) -> answered "
                f"after {took:.2f}s",
                flush=True,
            )
            victim.start()
            victim.wait_ready()
            wait_balanced(url, names, args.partitions)
    finally:
        for node in nodes:
            node.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="fewer calls and kills")
    parser.add_argument("--requests", type=int, default=None, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--lease-ttl", default="10s", help="the nodes' --lease-ttl")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.requests = args.requests or (600 if args.quick else 2000)
    args.warmup = max(100, args.requests // 10)
    args.sequential = 50 if args.quick else 200
    args.kills = args.kills if args.kills is not None else (3 if args.quick else 5)
    workdir = Path(tempfile.mkdtemp(prefix="perdure-bench-cluster-"))
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; work dir {workdir}")
    postgres = PostgresCluster.start_new()
    endpoint = Endpoint(
        "perdure serve",
        perdure_serve(SERVICES),
        cwd=workdir,
        log_path=workdir / "services.log",
        env={"PERDURE_BENCH_SDK": "perdure"},
        pythonpath=[REPO],
    )
    endpoint.start()
    report: dict[str, Any] = {"partitions": args.partitions, "lease_ttl": args.lease_ttl}
    try:
        if not args.skip_throughput:
            print(
                f"per system and workload: {args.warmup} warm-up calls, {args.sequential} "
                f"one at a time, then {args.requests} with {args.concurrency} in flight"
            )
            report["throughput"] = throughput(workdir, postgres, endpoint, args)
        print(f"failover after kill -9 (--lease-ttl {args.lease_ttl}, {args.kills} kills):")
        times = failover(workdir, postgres, endpoint, args)
        report["failover_s"] = times
        print(f"  failover p50 {statistics.median(times):.2f}s, max {max(times):.2f}s")
    finally:
        endpoint.stop()
        postgres.stop()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
