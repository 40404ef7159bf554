"""The system a soak runs against, and the faults it suffers.

`server`: `perdure server` with the soak services on two `perdure serve` endpoints, one
registered for HTTP/2 (bidi streams), one for HTTP/1.1 (request-response). `dev`: `perdure dev
bench/soak_services.py`, the services inside the server's process. Both on one data dir that
survives every restart; started with the launchers of tests/support and stopped by their pids.

Faults: kill -9 of the server or of an endpoint (restarted at once; an endpoint keeps its port,
the server gets fresh ones, which the driver follows), and SIGSTOP ... SIGCONT of either.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.process import ManagedProcess
from tests.support.registration import register

BENCH = Path(__file__).resolve().parent
SERVICES_FILE = BENCH / "soak_services.py"

# Short backoff and no limit on attempts: a killed or paused endpoint fails attempts for a
# while, and the invocations must outlive that (never paused by the retry policy).
SERVER_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "1s",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "unlimited",
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "5s",
    "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "10s",
}


@dataclass
class FaultLog:
    """Every fault injected, by kind, with the seconds since the start when it happened."""

    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def record(self, kind: str) -> None:
        self.events.append((round(time.monotonic() - self.started, 2), kind))

    def count(self, prefix: str) -> int:
        return sum(1 for _, kind in self.events if kind.startswith(prefix))


class SoakSystem:
    def __init__(self, mode: str, workdir: Path) -> None:
        self.mode = mode
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.endpoints: list[Endpoint] = []
        app = SERVICES_FILE if mode == "dev" else None
        self.server = PerdureServer(
            workdir / "server", SERVER_ENV, app=app, data_dir=self.data_dir, cwd=workdir
        )
        self._lock = threading.Lock()  # one fault at a time; the driver only reads urls

    @property
    def ingress_url(self) -> str:
        return self.server.ingress_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    def start(self) -> None:
        self.server.start()
        if self.mode != "server":
            return
        for name in ("bidi", "http1"):
            endpoint = Endpoint(
                f"perdure serve ({name})",
                perdure_serve(SERVICES_FILE),
                cwd=self.workdir,
                log_path=self.workdir / f"endpoint-{name}.log",
                env={"SOAK_SERVICES": name},
            )
            endpoint.start()
            self.endpoints.append(endpoint)
            register(self.admin_url, self.ingress_url, endpoint.uri, use_http_11=(name == "http1"))

    def stop(self) -> None:
        for target in (*self.endpoints, self.server):
            self._resume(target)
            target.stop()

    # ---- faults ---------------------------------------------------------------------------

    def kill(self, target: str) -> None:
        """kill -9 `target`, then start it again (same data dir; an endpoint, same port)."""
        with self._lock:
            if target == "server":
                process = self._process(self.server)
                os.killpg(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
                process.stop()  # reaps it
                self.server.start()
            else:
                endpoint = self.endpoints[int(target.split("-")[1])]
                process = self._process(endpoint)
                os.killpg(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
                process.stop()
                endpoint.start(keep_port=True)

    def pause(self, target: str, seconds: float) -> None:
        """SIGSTOP `target` for `seconds`, then SIGCONT."""
        with self._lock:
            owner = self.server if target == "server" else self.endpoints[int(target[-1])]
            process = self._process(owner)
            os.killpg(process.pid, signal.SIGSTOP)  # type: ignore[arg-type]
            try:
                time.sleep(seconds)  # the fault's length: the point is to hold it stopped
            finally:
                os.killpg(process.pid, signal.SIGCONT)  # type: ignore[arg-type]

    @staticmethod
    def _process(owner: PerdureServer | Endpoint) -> ManagedProcess:
        assert owner.process is not None and owner.process.pid is not None
        return owner.process

    @staticmethod
    def _resume(owner: PerdureServer | Endpoint) -> None:
        process = owner.process
        if process is not None and process.pid is not None and process.exit_code() is None:
            os.killpg(process.pid, signal.SIGCONT)


class Nemesis:
    """Injects `kills` kill -9s and `pauses` SIGSTOP pauses at random points of the load: fault
    i fires once the accepted share of the programs passes a random point inside slot i of
    (kills + pauses) equal slots, then after a random delay of up to `jitter_s`."""

    def __init__(
        self, system: SoakSystem, rng: random.Random, kills: int, pauses: int, jitter_s: float
    ) -> None:
        self.system = system
        self.log = FaultLog()
        endpoints = [f"endpoint-{i}" for i in range(2)] if system.mode == "server" else []
        # Every other fault of a kind hits the server (so at least half of them do), the
        # rest an endpoint chosen at random; then the order of all of them is shuffled.
        faults = [
            (kind, "server" if i % 2 == 0 or not endpoints else rng.choice(endpoints))
            for kind, count in (("kill", kills), ("pause", pauses))
            for i in range(count)
        ]
        rng.shuffle(faults)
        slots = len(faults)
        self.plan = [
            ((i + rng.random()) / (slots + 1), kind, target, rng.uniform(0, jitter_s),
             rng.uniform(0.3, 2.5))
            for i, (kind, target) in enumerate(faults)
        ]  # fmt: skip
        self.done = 0

    def next_fault(self, progress: float) -> tuple[str, str, float, float] | None:
        """The next fault due at `progress` (share of programs accepted), if any."""
        if self.done < len(self.plan) and progress >= self.plan[self.done][0]:
            _, kind, target, delay, length = self.plan[self.done]
            self.done += 1
            return kind, target, delay, length
        return None

    def inject(self, kind: str, target: str, length: float) -> None:
        if kind == "kill":
            self.system.kill(target)
        else:
            self.system.pause(target, length)
        self.log.record(f"{kind} {target}")
