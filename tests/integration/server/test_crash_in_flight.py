"""kill -9 the server with invocations in flight in every state, then restart it.

Issue 3's crash acceptance and reliability.md invariants S1 (no lost acknowledged
invocation), S2 (one invocation per idempotency key), S4/S5 (one recorded result per
`ctx.run`, re-execution only of a body whose result was never committed), S6/S12 (a 202
for an awakeable resolve survives), S11 (timers never early) and S14 (integrity after a
crash), plus liveness: nothing is left unfinished after the last restart. Each test runs
with request-response (HTTP/1.1) and bidi (h2c) attempts; about 20 s for the file.

The services are in crash_services.py; their `ctx.run` bodies log every execution to a
side file outside the journal. The random-points loop prints its seed; rerun one with
`PERDURE_CRASH_SEED=<seed>`, soak with `PERDURE_CRASH_KILLS=<n>`.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stores import integrity_problems, sql_rows

RUN_COMPLETION = 0x8011  # perdure.protocol.messages.MessageType.RUN_COMPLETION
SLEEP_MS = 4000  # longer than kill + restart
HOLD_SLEEP_MS = 3000
QUEUED = 3
BURST_REQUESTS = 400
KILL_AFTER_ACKS = 15
DEADLINE_S = 30.0
# Kills in the random-points loop; raise it for a soak run (default keeps CI short).
KILLS = int(os.environ.get("PERDURE_CRASH_KILLS", "5"))

Poll = Callable[[Callable[[], bool], float, str], None]


@dataclass
class CrashApp:
    url: str
    side_file: Path
    release_dir: Path

    def side_lines(self, event: str, invocation_id: str, step: str) -> list[str]:
        """The nonces of `event` lines of one (invocation, step): one per real execution."""
        if not self.side_file.exists():
            return []
        nonces = []
        for line in self.side_file.read_text().splitlines():
            e, inv, s, nonce = line.split()
            if (e, inv, s) == (event, invocation_id, step):
                nonces.append(nonce)
        return nonces

    def release(self, tag: str) -> None:
        (self.release_dir / tag).touch()


@pytest.fixture(scope="module")
def crash_app(serve_app, tmp_path_factory: pytest.TempPathFactory) -> CrashApp:
    folder = tmp_path_factory.mktemp("crash")
    release = folder / "release"
    release.mkdir()
    env = {
        "PERDURE_CRASH_SIDE_FILE": str(folder / "side-effects"),
        "PERDURE_CRASH_RELEASE_DIR": str(release),
    }
    return CrashApp(serve_app("crash_services:app", env), folder / "side-effects", release)


@pytest.fixture(params=["request-response", "bidi"])
def crashable(request: pytest.FixtureRequest, server, crash_app: CrashApp) -> Iterator[Any]:
    """The server with crash_services registered over HTTP/1.1 (request-response
    attempts) or h2c (full-duplex bidi attempts: run acks and notifications live)."""
    body: dict[str, object] = {"uri": crash_app.url}
    if request.param == "request-response":
        body["use_http_11"] = True
    response = httpx.post(f"{server.admin}/deployments", json=body, timeout=DEADLINE_S)
    assert response.status_code == 201, response.text
    yield server
    # S14: the store survived every kill; checked once the last server stopped cleanly.
    server.stop()
    assert integrity_problems(server.data_dir) == []


def _db(data_dir: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    # A read-only look at the store (SQLite, or PostgreSQL with PERDURE_TEST_STORE=postgres).
    return sql_rows(data_dir, sql, *args)


def _status(data_dir: Path, invocation_id: str) -> str | None:
    rows = _db(data_dir, "SELECT status FROM invocations WHERE id = ?", invocation_id)
    return str(rows[0][0]) if rows else None


def _unfinished(data_dir: Path) -> list[tuple[Any, ...]]:
    """Every invocation not completed (liveness: after the last restart, none may be)."""
    return _db(
        data_dir,
        "SELECT id, service, handler, status FROM invocations WHERE status != ?",
        "completed",
    )


def _sleep_timers(data_dir: Path, invocation_id: str) -> int:
    sql = "SELECT COUNT(*) FROM timers WHERE invocation_id = ? AND kind = 'sleep'"
    return int(_db(data_dir, sql, invocation_id)[0][0])


def _run_completions(data_dir: Path, invocation_id: str) -> list[tuple[int, int]]:
    """(completion id, how many RunCompletion entries the journal holds for it)."""
    sql = (
        "SELECT completion_id, COUNT(*) FROM journal WHERE invocation_id = ? AND type = ? "
        "GROUP BY completion_id ORDER BY completion_id"
    )
    return [(int(c), int(n)) for c, n in _db(data_dir, sql, invocation_id, RUN_COMPLETION)]


def _send(client: httpx.Client, path: str, body: object, key: str | None = None) -> str:
    headers = {"idempotency-key": key} if key else {}
    response = client.post(f"{path}/send", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["invocationId"])


def _attach(client: httpx.Client, invocation_id: str) -> Any:
    """Wait for the result of an invocation named by id or by service/handler/key."""
    response = client.get(f"/restate/invocation/{invocation_id}/attach")
    assert response.status_code == 200, f"{invocation_id}: {response.text}"
    return response.json()


# ---- the burst of idempotent requests racing the kill --------------------------------


@dataclass
class BurstResult:
    kind: str  # "send" or "call"
    key: str
    acked: bool
    value: int | None = None  # a call's answer (the counter after its add)


class Burst:
    """Idempotent `CrashCounter/burst/add` sends and calls from several threads. The thread
    that gets a 202 once `kill_after` requests were acknowledged SIGKILLs the server at
    once, while the other threads' requests are somewhere between arrival and commit. A
    request that got its 200/202 is acknowledged; one that failed in transport is in
    doubt."""

    def __init__(
        self, ingress: str, server_pid: int, kill_after: int, last_word: Callable[[], None]
    ) -> None:
        self._ingress = ingress
        self._last_word = last_word  # runs right before the kill, in the killing thread
        self._pid = server_pid
        self._kill_after = kill_after
        self.killed = threading.Event()
        self._lock = threading.Lock()
        self.results: list[BurstResult] = []
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="burst")
        self._futures = [self._pool.submit(self._one, i) for i in range(BURST_REQUESTS)]

    def _one(self, i: int) -> None:
        if self.killed.is_set():
            return  # never sent: nothing to account for
        kind = "send" if i % 2 == 0 else "call"
        key = f"{kind}-{i}"
        path = "/CrashCounter/burst/add" + ("/send" if kind == "send" else "")
        try:
            response = httpx.post(
                self._ingress + path, json=1, headers={"idempotency-key": key}, timeout=10
            )
        except httpx.TransportError:
            result = BurstResult(kind, key, acked=False)
        else:
            expected = 202 if kind == "send" else 200
            assert response.status_code == expected, response.text
            value = response.json() if kind == "call" else None
            result = BurstResult(kind, key, acked=True, value=value)
        with self._lock:
            self.results.append(result)
            acked = sum(r.acked for r in self.results)
            # Right after a 202: its invocation must already be committed (a call's 200
            # comes after a later commit, its completion, so it says less).
            sent = result.acked and kind == "send"
            if sent and acked >= self._kill_after and not self.killed.is_set():
                self._last_word()
                os.kill(self._pid, signal.SIGKILL)
                self.killed.set()

    def finish(self) -> list[BurstResult]:
        """After the kill: let the threads run out; re-raise anything they raised."""
        self.killed.set()
        for future in self._futures:
            future.result(timeout=DEADLINE_S)
        self._pool.shutdown()
        return self.results


def _settle_burst(client: httpx.Client, results: list[BurstResult]) -> None:
    """Retry every in-doubt request with its key, attach to all, check exactly-once."""
    for r in results:
        if not r.acked:
            path = "/CrashCounter/burst/add" + ("/send" if r.kind == "send" else "")
            response = client.post(path, json=1, headers={"idempotency-key": r.key})
            assert response.status_code == (202 if r.kind == "send" else 200), response.text
    values = []
    for r in results:
        # S1: every acknowledged request's invocation exists and completes.
        value = _attach(client, f"CrashCounter/burst/add/{r.key}")
        if r.value is not None:
            assert value == r.value, f"{r.key}: answered {r.value}, stored {value}"
        values.append(value)
    # Each add ran exactly once: the answers are exactly 1..n and the counter is n.
    assert sorted(values) == list(range(1, len(results) + 1))
    assert client.get("/CrashCounter/burst/get").json() == len(results)


# ---- the tests -------------------------------------------------------------------------


def test_kill9_with_invocations_in_flight_in_every_state(
    crashable, crash_app: CrashApp, poll: Poll
) -> None:
    server = crashable
    data = server.data_dir
    with httpx.Client(base_url=server.ingress, timeout=DEADLINE_S) as client:
        # State acknowledged before the crash.
        for n in range(1, 6):
            add = client.post("/CrashCounter/pre/add", json=n, headers={"idempotency-key": f"p{n}"})
            assert add.json() == n * (n + 1) // 2
        # (a) A durable sleep longer than the restart.
        slept_from = time.monotonic()
        sleeper = _send(client, "/CrashSleeper/sleep", SLEEP_MS, key="sleeper")
        # (b) + (d) An exclusive handler waiting on an awakeable holds key `awk`, with
        # sends queued behind it; (d) again behind a holder that sleeps.
        awk_holder = _send(client, "/CrashBox/awk/hold_awakeable", None)
        # (b) again, resolved right before the kill: a 202 for a resolve is an ack too (S6).
        early_holder = _send(client, "/CrashBox/early/hold_awakeable", None)
        awk_queued = [_send(client, "/CrashBox/awk/append", f"q{i}") for i in range(QUEUED)]
        slp_holder = _send(client, "/CrashBox/slp/hold_sleeping", HOLD_SLEEP_MS)
        slp_queued = [_send(client, "/CrashBox/slp/append", f"s{i}") for i in range(QUEUED)]
        # (c) Two invocations whose second `ctx.run` body blocks until released.
        # Tags unique per test: the release files of the endpoint's folder outlive a test.
        tags = [f"r{i}-{uuid.uuid4().hex[:8]}" for i in (1, 2)]
        runners = {tag: _send(client, "/CrashRunner/two_steps", tag) for tag in tags}

        def awakeable_published() -> bool:
            return client.post("/CrashBox/awk/awakeable").json() is not None

        poll(awakeable_published, DEADLINE_S, "the awakeable id in state")
        poll(
            lambda: client.post("/CrashBox/early/awakeable").json() is not None,
            DEADLINE_S,
            "the early awakeable id in state",
        )
        early_id = client.post("/CrashBox/early/awakeable").json()

        def resolve_early() -> None:
            url = f"{server.ingress}/restate/awakeables/{early_id}/resolve"
            resolved = httpx.post(url, json="early", timeout=DEADLINE_S)
            assert resolved.status_code == 202, resolved.text

        for inv in (sleeper, slp_holder):
            poll(lambda i=inv: _sleep_timers(data, i) == 1, DEADLINE_S, f"{inv}'s sleep timer")
        for tag, inv in runners.items():
            # The first run's result is committed; the second body is running.
            poll(lambda i=inv: len(_run_completions(data, i)) == 1, DEADLINE_S, f"{tag} quick")
            poll(
                lambda i=inv: len(crash_app.side_lines("start", i, "blocked")) == 1,
                DEADLINE_S,
                f"{tag}'s blocked body to start",
            )
        for inv in awk_queued + slp_queued:
            assert _status(data, inv) == "pending"
        # A burst of idempotent sends and calls; the kill lands while it runs.
        burst = Burst(server.ingress, server.process.pid, KILL_AFTER_ACKS, resolve_early)
        assert burst.killed.wait(DEADLINE_S), "the burst got too few acknowledgements"
        server.process.wait(timeout=DEADLINE_S)
        results = burst.finish()
    assert 0 < sum(r.acked for r in results) < BURST_REQUESTS, "the kill did not race the burst"

    server.start()
    # (c) The uncommitted body runs again in the new attempt; the committed one not. Then
    # a crash during that recovery, and recovery again (reliability.md T2, last row).
    for starts in (2, 3):
        for tag, inv in runners.items():
            poll(
                lambda i=inv, n=starts: len(crash_app.side_lines("start", i, "blocked")) == n,
                DEADLINE_S,
                f"{tag}'s blocked body to be re-executed after restart {starts - 1}",
            )
        if starts == 2:
            server.kill9()
            server.start()
    with httpx.Client(base_url=server.ingress, timeout=DEADLINE_S) as client:
        for tag in runners:
            crash_app.release(tag)
        for tag, inv in runners.items():
            quick, blocked = str(_attach(client, inv)).split("/")
            assert crash_app.side_lines("exec", inv, "quick") == [quick], tag
            # The recorded result is one that a real execution produced.
            assert blocked in crash_app.side_lines("exec", inv, "blocked"), tag
            assert [n for _, n in _run_completions(data, inv)] == [1, 1], tag
        # (b) The awakeable, resolved only now, wakes its holder; the queue drains in order.
        awakeable_id = client.post("/CrashBox/awk/awakeable").json()
        resolved = client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="late")
        assert resolved.status_code == 202, resolved.text
        assert _attach(client, awk_holder) == "late"
        assert _attach(client, early_holder) == "early"
        for inv in awk_queued:
            _attach(client, inv)
        assert client.get("/CrashBox/awk/log").json() == ["woke:late", "q0", "q1", "q2"]
        # (d) behind a sleeper.
        assert _attach(client, slp_holder) == f"slept {HOLD_SLEEP_MS}"
        for inv in slp_queued:
            _attach(client, inv)
        assert client.get("/CrashBox/slp/log").json() == [
            f"slept:{HOLD_SLEEP_MS}",
            "s0",
            "s1",
            "s2",
        ]
        # (a) The sleep completes, never early (S11).
        assert _attach(client, "CrashSleeper/sleep/sleeper") == f"slept {SLEEP_MS}"
        assert time.monotonic() - slept_from >= SLEEP_MS / 1000
        # State from before the crash is exact.
        assert client.get("/CrashCounter/pre/get").json() == 15
        _settle_burst(client, results)
    assert _unfinished(data) == [], "invocations stuck after the restarts"
    acked = sum(r.acked for r in results)
    reruns = sum(len(crash_app.side_lines("exec", i, "blocked")) for i in runners.values())
    print(f"burst: {acked} acked, {len(results) - acked} in doubt; blocked bodies ran {reruns}x")


def test_kill9_at_random_points_under_single_hot_key_load(
    crashable, crash_app: CrashApp, poll: Poll
) -> None:
    """reliability.md A3: `add(1)` with `idempotency-key = <successes so far>`; a request
    cut by the kill is retried with the same key until it is answered. Every answer must
    equal the success count: a lost add or a double add shows at once. Kills alternate
    between a random moment (mostly a request in flight: the in-doubt retry) and right
    after a random acknowledgement (an acknowledged add must have been committed)."""
    server = crashable
    seed = int(os.environ.get("PERDURE_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    load = HotKeyLoad(server.ingress)
    try:
        for kill in range(KILLS):
            start = load.successes
            poll(lambda s=start: load.successes > s, DEADLINE_S, f"progress (seed {seed})")
            assert server.process is not None
            if kill % 2 == 0:
                # The nemesis: a random moment in the next ~0.4 s of adds (not a wait for
                # anything; the randomness is the point).
                time.sleep(rng.uniform(0.0, 0.4))
                os.kill(server.process.pid, signal.SIGKILL)
            else:
                load.kill_after(server.process.pid, load.successes + rng.randint(1, 30))
                assert load.killed.wait(DEADLINE_S), f"no kill (seed {seed})"
            server.process.wait(timeout=DEADLINE_S)
            server.start()
            load.check()
        final = load.successes
        poll(
            lambda: load.successes > final, DEADLINE_S, f"progress after the last restart ({seed})"
        )
    finally:
        load.stop()
    load.check()
    with httpx.Client(base_url=server.ingress, timeout=DEADLINE_S) as client:
        assert client.get("/CrashCounter/hot/get").json() == load.successes, f"seed {seed}"
    assert _unfinished(server.data_dir) == [], f"invocations stuck after the restarts ({seed})"
    print(f"seed {seed}: {load.successes} adds, {load.in_doubt} answers lost to a kill")


class HotKeyLoad:
    """One client thread doing `CrashCounter/hot/add` in a loop (see the test)."""

    def __init__(self, ingress: str) -> None:
        self._ingress = ingress
        self.successes = 0
        self.in_doubt = 0  # requests sent but unanswered (kill), then retried with their key
        self.killed = threading.Event()
        self._kill: tuple[int, int] | None = None  # (server pid, after that many successes)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hot-key-load", daemon=True)
        self._thread.start()

    def kill_after(self, pid: int, successes: int) -> None:
        """SIGKILL `pid` from the load thread as soon as it has seen `successes` answers."""
        self.killed.clear()
        self._kill = (pid, successes)

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self._ingress, timeout=10) as client:
                while not self._stop.is_set():
                    self._add_once(client)
                    kill = self._kill
                    if kill is not None and self.successes >= kill[1]:
                        self._kill = None
                        os.kill(kill[0], signal.SIGKILL)
                        self.killed.set()
        except BaseException as exc:  # surfaced by check() in the test thread
            self._error = exc

    def _add_once(self, client: httpx.Client) -> None:
        key = str(self.successes)
        cut = False
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                response = client.post(
                    "/CrashCounter/hot/add", json=1, headers={"idempotency-key": key}
                )
            except httpx.TransportError as exc:
                # The server died (or is restarting): retry with the same key. A refused
                # connection was never sent; anything else may have been committed.
                cut = cut or not isinstance(exc, httpx.ConnectError)
                if time.monotonic() > deadline:
                    raise
                self._stop.wait(0.02)
                continue
            break
        assert response.status_code == 200, response.text
        assert response.json() == self.successes + 1, f"key {key}: {response.json()}"
        self.in_doubt += cut
        self.successes += 1

    def check(self) -> None:
        if self._error is not None:
            raise AssertionError(f"the load thread failed: {self._error!r}") from self._error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DEADLINE_S)
