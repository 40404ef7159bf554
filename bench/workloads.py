"""The workloads: which ingress call the i-th request of a phase makes, what answer it must get,
and which concurrency levels it is measured at. Shared by the runner and the load generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.bench_services import FANOUT_WIDTH, SLEEP_MS

# (ingress path, JSON body) of request `i` of the phase tagged `tag` (tags keep workflow ids and
# counter keys apart between phases).
Request = Callable[[str, int], tuple[str, object]]
# The answer a request must get, when it is known in advance; None: any 200 will do.
Expected = Callable[[int], object] | None


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    request: Request
    expected: Expected = None
    # The two concurrency levels ("lo", "hi") of the concurrent phases.
    levels: tuple[int, int] = (32, 128)
    # A counter workload: the key each request adds 1 to (for the exact-count check).
    counter_key: Callable[[int], str] | None = None
    # Latency figures are reported minus this (W5: the sleep itself).
    baseline_ms: float = 0.0
    # Of the plan's sequential / concurrent calls, this share (W5 sleeps, so half as many run
    # one at a time; a W4 call is 11 invocations, so 0.3 as many run concurrently).
    sequential_share: float = 1.0
    concurrent_share: float = 1.0
    # Runs in the inactivity-timeout-0 variants too.
    in_inactivity_0: bool = False


def _counter(prefix: str, keys: int) -> tuple[Request, Callable[[int], str]]:
    def key(i: int) -> str:
        return f"{prefix}{i % keys}"

    return (lambda tag, i: (f"/Counter/{key(i)}/add", 1)), key


_w3_many, _w3_many_key = _counter("many-", 100)
_w3_one, _w3_one_key = _counter("one-", 1)

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "w1",
            "W1 no-op service handler",
            lambda tag, i: ("/Noop/echo", i),
            expected=lambda i: i,
            in_inactivity_0=True,
        ),
        Workload(
            "w2",
            "W2 sign-up workflow (set, 3 run, uuid)",
            lambda tag, i: (f"/SignUp/{tag}-{i}/run", f"u{i}@example.com"),
            in_inactivity_0=True,
        ),
        Workload(
            "w3-100",
            "W3 counter get+set, 100 keys",
            _w3_many,
            counter_key=_w3_many_key,
            in_inactivity_0=True,
        ),
        Workload(
            "w3-1",
            "W3 counter get+set, 1 key",
            _w3_one,
            levels=(32, 64),
            counter_key=_w3_one_key,
            in_inactivity_0=True,
        ),
        Workload(
            "w4",
            f"W4 fan-out of {FANOUT_WIDTH} calls, gathered",
            lambda tag, i: ("/Fanout/run", i),
            expected=lambda i: FANOUT_WIDTH * i + sum(range(FANOUT_WIDTH)),
            sequential_share=0.5,
            concurrent_share=0.3,
        ),
        Workload(
            "w5",
            f"W5 {SLEEP_MS} ms durable sleep (overshoot)",
            lambda tag, i: ("/Sleeper/nap", i),
            expected=lambda i: i,
            baseline_ms=float(SLEEP_MS),
            sequential_share=0.5,
        ),
    )
}
