"""perdure server vs the real restate-server 1.7.12: latency and throughput of the same endpoint.

Run it as `scripts/bench bench/throughput.py` (a loopback-only network namespace: restate-server
contacts GitHub at every start). It starts, on 127.0.0.1, one `perdure serve bench/bench_app.py`
endpoint, a `perdure server` (SQLite, default synchronous=FULL) and restate-server, registers the
endpoint on both, then per server and handler (`Counter.add`: get+set; `Steps.run`: 3 ctx.run):
warm-up, N sequential calls (p50/p95 latency), M concurrent calls over K keys (calls/s).
Prints a table with the ratio perdure/restate for every figure. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from tests.support.endpoint import Endpoint, perdure_serve  # noqa: E402
from tests.support.netns import loopback_only_problem  # noqa: E402
from tests.support.perdure import PerdureServer  # noqa: E402
from tests.support.registration import register  # noqa: E402
from tests.support.restate_server import SERVER_VERSION, RestateServer  # noqa: E402

RUN_VIA = "run it as `scripts/bench bench/throughput.py` (a loopback-only network namespace)"

# A call's (path, json body) given its index and how many distinct keys to spread over.
Call = Callable[[int, int], tuple[str, int]]
HANDLERS: dict[str, Call] = {
    "Counter.add": lambda i, keys: (f"/Counter/k{i % keys}/add", 1),
    "Steps.run": lambda i, keys: ("/Steps/run", i),
}


@dataclass
class Figures:
    p50_ms: float
    p95_ms: float
    calls_per_s: float


async def one_call(client: httpx.AsyncClient, path: str, body: int) -> float:
    start = time.perf_counter()
    resp = await client.post(path, json=body)
    elapsed = time.perf_counter() - start
    if resp.status_code != 200:
        raise RuntimeError(f"POST {path} -> {resp.status_code} {resp.text[:300]!r}")
    return elapsed


async def measure(
    ingress_url: str,
    call: Call,
    *,
    sequential: int,
    concurrent: int,
    keys: int,
    warmup: int,
    phase_limit: float,
) -> Figures:
    limits = httpx.Limits(max_connections=concurrent, max_keepalive_connections=concurrent)
    async with httpx.AsyncClient(base_url=ingress_url, timeout=60.0, limits=limits) as client:
        # Warm-up: connections, the server's deployment/schema paths, the endpoint's code paths.
        # Every phase is bounded: a stuck server fails the run instead of hanging it.
        await asyncio.wait_for(
            asyncio.gather(*(one_call(client, *call(i, keys)) for i in range(warmup))),
            phase_limit,
        )

        async def in_sequence() -> list[float]:
            return [await one_call(client, *call(i, keys)) for i in range(sequential)]

        latencies = await asyncio.wait_for(in_sequence(), phase_limit)
        start = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(one_call(client, *call(i, keys)) for i in range(concurrent))),
            phase_limit,
        )
        wall = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Figures(cuts[49] * 1000, cuts[94] * 1000, concurrent / wall)


def machine_facts() -> str:
    usable = len(os.sched_getaffinity(0))
    try:
        perdure_version = importlib.metadata.version("perdure")
    except importlib.metadata.PackageNotFoundError:
        perdure_version = "?"
    return (
        f"machine: {os.cpu_count()} cores ({usable} usable), {platform.machine()}, "
        f"{platform.system()} {platform.release()}\n"
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"perdure {perdure_version}, restate-server {SERVER_VERSION}"
    )


def print_table(results: dict[str, dict[str, Figures]], args: argparse.Namespace) -> None:
    print(
        f"N={args.sequential} sequential, M={args.concurrent} concurrent over K={args.keys} keys, "
        f"warm-up {args.warmup} calls; one `perdure serve` endpoint registered on both servers"
    )
    print("ratio = perdure / restate (latency: <1 means perdure faster; calls/s: >1 means faster)")
    header = f"{'handler':<12} {'figure':<16} {'perdure':>10} {'restate':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    rows = [("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"), ("calls/s (conc.)", "calls_per_s")]
    for handler in HANDLERS:
        for label, attr in rows:
            ours = getattr(results["perdure"][handler], attr)
            theirs = getattr(results["restate"][handler], attr)
            ratio = ours / theirs if theirs else float("nan")
            print(f"{handler:<12} {label:<16} {ours:>10.1f} {theirs:>10.1f} {ratio:>7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--sequential", type=int, default=300, help="N sequential calls")
    parser.add_argument(
        "-m", "--concurrent", type=int, default=500, help="M calls all in flight at once"
    )
    parser.add_argument("-k", "--keys", type=int, default=50, help="K distinct Counter keys")
    parser.add_argument("-w", "--warmup", type=int, default=50, help="warm-up calls (in flight)")
    parser.add_argument(
        "--phase-limit", type=float, default=30.0, help="seconds any one phase may take"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args()
    if min(args.sequential, args.concurrent, args.keys) < 2 or args.warmup < 0:
        parser.error("N, M and K must be at least 2, the warm-up at least 0")

    problem = loopback_only_problem()
    if problem:
        reason = problem.split(";")[0].removeprefix("refusing to start restate-server: ")
        print(
            f"bench/throughput.py: refusing to start restate-server: {reason}; {RUN_VIA}",
            file=sys.stderr,
        )
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="perdure-bench-"))
    endpoint = Endpoint(
        "perdure serve",
        perdure_serve(BENCH / "bench_app.py"),
        cwd=BENCH,
        log_path=workdir / "endpoint.log",
    )
    servers = {
        "perdure": PerdureServer(workdir / "perdure"),
        "restate": RestateServer(workdir / "restate"),
    }
    results: dict[str, dict[str, Figures]] = {}
    began = time.monotonic()
    try:
        endpoint.start()
        for server in servers.values():
            server.start()
            register(server.admin_url, server.ingress_url, endpoint.uri)
        for name, server in servers.items():
            results[name] = {}
            for handler, call in HANDLERS.items():
                print(f"... {name}: {handler}", file=sys.stderr, flush=True)
                results[name][handler] = asyncio.run(
                    measure(
                        server.ingress_url,
                        call,
                        sequential=args.sequential,
                        concurrent=args.concurrent,
                        keys=args.keys,
                        warmup=args.warmup,
                        phase_limit=args.phase_limit,
                    )
                )
    finally:
        for server in servers.values():
            server.stop()
        endpoint.stop()
        if args.keep:
            print(f"work dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(machine_facts())
    print_table(results, args)
    print(f"total {time.monotonic() - began:.1f}s (servers started, registered, measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
