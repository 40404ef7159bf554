"""kill -9 the server with invocations in flight; restart on the same data dir (or, with
PERDURE_TEST_STORE=postgres, the same database)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from tests.support.stores import integrity_problems, sql_rows, store_args

Poll = Callable[[Callable[[], bool], float, str], None]


def _status(data_dir, invocation_id: str) -> str | None:
    # A read-only look at the store while the server writes.
    found = sql_rows(data_dir, "SELECT status FROM invocations WHERE id = ?", invocation_id)
    return str(found[0][0]) if found else None


def test_kill9_while_sleeping_and_queued_then_restart(registered, poll: Poll) -> None:
    server = registered
    with httpx.Client(base_url=server.ingress, timeout=30) as client:
        started = time.monotonic()
        sleeping = client.post("/Steps/sleep_for/send", json=2500).json()["invocationId"]
        # An exclusive handler holding its key across a suspension, and one queued behind it.
        holder = client.post("/ListObject/crash/slow_append/send", json="first").json()
        queued = client.post("/ListObject/crash/append/send", json="second").json()
        counter = client.post("/Counter/crash/add", json=7)
        assert counter.json() == {"oldValue": 0, "newValue": 7}
        poll(
            lambda: _status(server.data_dir, sleeping) == "suspended", 10, "the sleeper to suspend"
        )
        assert _status(server.data_dir, queued["invocationId"]) in ("pending", "completed")
    server.kill9()
    server.start()
    with httpx.Client(base_url=server.ingress, timeout=30) as client:
        attached = client.get(f"/restate/invocation/{sleeping}/attach")
        assert attached.json() == "slept 2500"
        assert time.monotonic() - started >= 2.5  # the timer never fires early
        for sent in (holder, queued):
            result = client.get(f"/restate/invocation/{sent['invocationId']}/attach")
            assert result.status_code == 200, result.text
        assert client.get("/ListObject/crash/get").json() == ["first", "second"]
        # State written before the crash is intact.
        assert client.post("/Counter/crash/add", json=1).json() == {"oldValue": 7, "newValue": 8}
    assert integrity_problems(server.data_dir) == []


def test_a_second_server_on_the_same_data_dir_is_refused(registered) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "perdure.cli.server",
            "--data-dir",
            str(registered.data_dir),
            *store_args(registered.data_dir),
            "--ingress-port",
            "1",
            "--admin-port",
            "2",
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert b"another perdure server" in result.stderr
