"""Bidi streaming end to end: `perdure server` drives official restate-sdk 1.2.0 services
over HTTP/2 (h2c, prior knowledge) with the request body open.

Each deployment records its attempts from its side of the wire (bidi_services.py), so the
tests count attempts and read the StartMessage perdure really sent. Full duplex shows as
one attempt where request-response needs a suspension and a replay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.polling import eventually_sync, http_ok
from tests.support.ports import free_port
from tests.support.process import die_with_parent, stop_popen

HERE = Path(__file__).parent
DEADLINE_S = 20.0


def _eventually(predicate: Callable[[], bool], deadline_s: float, what: str) -> None:
    eventually_sync(predicate, what=what, within=deadline_s)


@dataclass
class Deployment:
    url: str
    attempts_file: Path
    effects_file: Path

    def attempts(self, path_suffix: str | None = None) -> list[dict[str, Any]]:
        if not self.attempts_file.exists():
            return []
        rows = [json.loads(line) for line in self.attempts_file.read_text().splitlines()]
        if path_suffix is not None:
            rows = [r for r in rows if r.get("path", "").endswith(path_suffix)]
        return rows

    def attempts_of(self, invocation_id: str) -> list[dict[str, Any]]:
        return [r for r in self.attempts() if r.get("invocation_id") == invocation_id]

    def effects(self) -> list[str]:
        if not self.effects_file.exists():
            return []
        return self.effects_file.read_text().splitlines()


@dataclass
class Server:
    admin: str
    ingress: str
    log: Path

    def register(self, url: str) -> dict[str, Any]:
        # No use_http_11: discovery over h2c, the SDK answers BIDI_STREAM.
        response = httpx.post(f"{self.admin}/deployments", json={"uri": url}, timeout=30)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.ingress, timeout=30)


@pytest.fixture
def start_deployment(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    processes: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(app: str = "bidi_services:app", version: str = "v0") -> Deployment:
        folder = tmp_path / f"dep-{len(processes)}"
        folder.mkdir()
        port = free_port()
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            PERDURE_TEST_ATTEMPTS=str(folder / "attempts"),
            PERDURE_TEST_EFFECTS=str(folder / "effects"),
            PERDURE_TEST_VERSION=version,
        )
        log = (folder / "hypercorn.log").open("wb")
        command = [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}"]
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        processes.append((process, log))
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                httpx.get(f"{url}/health", timeout=1.0)
                return True
            except httpx.HTTPError:
                return False

        _eventually(up, DEADLINE_S, f"{app} to listen")
        return Deployment(url, folder / "attempts", folder / "effects")

    try:
        yield start
    finally:
        for process, log in processes:
            stop_popen(process)
            log.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(**env_overrides: str) -> Server:
        ingress, admin = free_port(), free_port()
        log = tmp_path / f"server-{len(processes)}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        env.update(env_overrides)
        command = [
            sys.executable,
            "-m",
            "perdure.cli.server",
            "--data-dir",
            str(tmp_path / f"data-{len(processes)}"),
            "--ingress-port",
            str(ingress),
            "--admin-port",
            str(admin),
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        processes.append(process)
        server = Server(f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{ingress}", log)

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"perdure server exited: {log.read_text()}")
            return http_ok(f"{server.admin}/health") and http_ok(f"{server.ingress}/restate/health")

        _eventually(up, DEADLINE_S, "perdure server")
        return server

    try:
        yield start
    finally:
        for process in processes:
            stop_popen(process)


def _invocation_id(response: httpx.Response) -> str:
    assert response.status_code in (200, 202), response.text
    return response.headers.get("x-restate-id") or response.json()["invocationId"]


# ---- bidi with the default configuration --------------------------------------------


def test_scenarios_run_full_duplex_in_one_attempt(start_server, start_deployment) -> None:
    server = start_server()
    deployment = start_deployment()
    registered = server.register(deployment.url)
    listed = httpx.get(f"{server.admin}/deployments/{registered['id']}").json()
    assert listed["protocol_type"] == "BidiStream"
    with server.client() as client:
        # State: eager state in Start, one attempt per invocation.
        first = client.post("/BidiCounter/c1/add", json=2)
        second = client.post("/BidiCounter/c1/add", json=3)
        assert first.json() == 2 and second.json() == 5
        assert client.get("/BidiCounter/c1/get").json() == 5
        second_attempts = deployment.attempts_of(_invocation_id(second))
        assert len(second_attempts) == 1
        assert second_attempts[0]["partial_state"] is False
        assert second_attempts[0]["state_keys"] == ["count"]
        assert second_attempts[0]["body_ended_early"] is False  # the body stayed open

        # ctx.run: the RunCompletion reaches the open attempt; request-response would
        # need a suspension and a second attempt.
        ran = client.post("/BidiSteps/run_once", json="r1")
        assert ran.json() == "value-r1"
        assert deployment.effects().count("run:r1") == 1
        assert len(deployment.attempts_of(_invocation_id(ran))) == 1

        # A sleep shorter than the inactivity timeout: the timer's completion is
        # forwarded live, no suspension.
        started = time.monotonic()
        slept = client.post("/BidiSteps/sleep_for", json=500)
        assert slept.json() == "slept 500"
        assert time.monotonic() - started >= 0.5
        assert len(deployment.attempts_of(_invocation_id(slept))) == 1

        # Call: the callee's result is forwarded to the waiting caller's open attempt.
        request = {"service": "BidiCounter", "key": "c2", "handler": "add", "body": "4"}
        called = client.post("/BidiSteps/call", json=request)
        assert called.json() == "4"
        assert len(deployment.attempts_of(_invocation_id(called))) == 1
        # Send: the invocation id notification is enough.
        sent = client.post("/BidiSteps/send", json=request)
        assert sent.json().startswith("inv_1")
        assert len(deployment.attempts_of(_invocation_id(sent))) == 1
        _eventually(lambda: client.get("/BidiCounter/c2/get").json() == 8, 10, "the sent add")


def test_inactivity_timeout_from_the_manifest_suspends_a_long_wait(
    start_server, start_deployment
) -> None:
    # Impatient declares inactivityTimeout=300ms; the server default stays 60 s.
    server = start_server()
    deployment = start_deployment()
    server.register(deployment.url)
    with server.client() as client:
        slept = client.post("/Impatient/sleep_for", json=1500)
        assert slept.json() == "slept 1500"
        attempts = deployment.attempts_of(_invocation_id(slept))
        # Closed body after 300 ms ⇒ Suspension; the timer resumes it with a replay.
        assert len(attempts) == 2
        assert attempts[1]["known_entries"] > attempts[0]["known_entries"]
        # Same sleep on a service without the option: one attempt.
        other = client.post("/BidiSteps/sleep_for", json=1500)
        assert len(deployment.attempts_of(_invocation_id(other))) == 1


# ---- inactivity timeout 0: request-response, every await suspends ---------------------


def test_inactivity_timeout_zero_suspends_on_every_await(start_server, start_deployment) -> None:
    server = start_server(RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT="0s")
    deployment = start_deployment()
    server.register(deployment.url)
    with server.client() as client:
        ran = client.post("/BidiSteps/run_once", json="z1")
        assert ran.json() == "value-z1"
        assert deployment.effects().count("run:z1") == 1
        assert len(deployment.attempts_of(_invocation_id(ran))) == 2
        slept = client.post("/BidiSteps/sleep_for", json=200)
        assert slept.json() == "slept 200"
        assert len(deployment.attempts_of(_invocation_id(slept))) == 2
        request = {"service": "BidiCounter", "key": "z", "handler": "add", "body": "1"}
        called = client.post("/BidiSteps/call", json=request)
        assert called.json() == "1"
        # Suspended for the invocation id, then for the result (or both at once).
        assert len(deployment.attempts_of(_invocation_id(called))) >= 2


# ---- abort timeout -----------------------------------------------------------------


def test_abort_timeout_aborts_and_retries_a_silent_attempt(start_server, start_deployment) -> None:
    server = start_server(
        RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT="300ms",
        RESTATE_WORKER__INVOKER__ABORT_TIMEOUT="500ms",
        RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL="100ms",
        RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL="100ms",
    )
    hang = start_deployment(app="bidi_services:hang_app")
    server.register(hang.url)
    with server.client() as client:
        assert client.post("/Hang/hang/send", json=None).status_code == 202

    def events(kind: str) -> list[float]:
        return [r["at"] for r in hang.attempts() if r.get("event") == kind]

    _eventually(lambda: len(events("attempt")) >= 3, DEADLINE_S, "three attempts")
    attempts, ended, gone = events("attempt"), events("body_ended"), events("disconnect")
    # Each attempt: body closed after the inactivity timeout, stream aborted after the
    # abort timeout, then a new attempt after the backoff.
    assert len(ended) >= 2 and len(gone) >= 2
    assert 0.25 <= ended[0] - attempts[0] < 2.0
    assert 0.45 <= gone[0] - ended[0] < 2.0
    assert attempts[1] >= gone[0]


# ---- eager state ---------------------------------------------------------------------


def test_eager_state_is_partial_over_the_size_limit_and_lazy_when_asked(
    start_server, start_deployment
) -> None:
    server = start_server(RESTATE_WORKER__INVOKER__MESSAGE_SIZE_LIMIT="64KiB")
    deployment = start_deployment()
    server.register(deployment.url)
    with server.client() as client:
        for name in ("a", "b", "c"):
            put = client.post("/BigState/k/put", json={"name": name, "size": 30_000})
            assert put.status_code == 200, put.text
        total = client.post("/BigState/k/total", json=["a", "b", "c"])
        assert total.json() == 90_000  # what did not fit was read lazily
        start = deployment.attempts_of(_invocation_id(total))[0]
        assert start["partial_state"] is True
        assert start["state_keys"] == ["a", "b"]  # 60 kB fit, the third would not

        # enableLazyState on the service: no state in Start at all.
        assert client.post("/LazyState/k/bump").json() == 1
        bumped = client.post("/LazyState/k/bump")
        assert bumped.json() == 2
        start = deployment.attempts_of(_invocation_id(bumped))[0]
        assert start["partial_state"] is True and start["state_keys"] == []

        # A frame from the SDK over the limit fails the attempt, which is retried.
        sent = client.post("/BidiSteps/output_of/send", json=100_000)
        invocation_id = _invocation_id(sent)
        _eventually(lambda: len(deployment.attempts_of(invocation_id)) >= 2, 10, "a retry")
    assert "over the limit" in server.log.read_text()


def test_disable_eager_state_sends_no_state(start_server, start_deployment) -> None:
    server = start_server(RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE="true")
    deployment = start_deployment()
    server.register(deployment.url)
    with server.client() as client:
        assert client.post("/BidiCounter/k/add", json=1).json() == 1
        second = client.post("/BidiCounter/k/add", json=1)
        assert second.json() == 2
    start = deployment.attempts_of(_invocation_id(second))[0]
    assert start["partial_state"] is True and start["state_keys"] == []


# ---- pinning -------------------------------------------------------------------------


def test_in_flight_invocation_stays_on_its_first_deployment(start_server, start_deployment) -> None:
    # A short inactivity timeout makes the sleeping invocation suspend, so its next
    # attempt starts after v2 was registered: it must still go to v1.
    server = start_server(RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT="300ms")
    v1 = start_deployment(version="v1")
    v2 = start_deployment(version="v2")
    server.register(v1.url)
    with server.client() as client:
        sent = client.post("/Pinned/version/send", json=2000)
        invocation_id = _invocation_id(sent)
        _eventually(lambda: len(v1.attempts_of(invocation_id)) == 1, 10, "the first attempt on v1")
        server.register(v2.url)
        assert client.post("/Pinned/version", json=0).json() == "v2"
        output = client.get(f"/restate/invocation/{invocation_id}/attach")
        assert output.json() == "v1"
    assert len(v1.attempts_of(invocation_id)) == 2  # suspended, resumed on v1
    assert v2.attempts_of(invocation_id) == []
