"""The server facing a deployment that breaks the service protocol (broken_endpoint.py): for
each kind of breakage, the attempt fails with an error that says what was wrong (in
sys_invocation.last_failure), the invocation is retried (and completes once the deployment
behaves), and the server keeps running and serving other invocations. Over HTTP/1.1
(request-response) and HTTP/2 (bidi streams)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync
from tests.support.registration import register

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from broken_endpoint import MODES  # noqa: E402

# What last_failure must say about each breakage (a regular expression).
EXPECTED_FAILURE = {
    "truncated": r"ended in the middle of a frame",
    "huge_length": r"announces 4294967295 bytes, over the limit",
    "unknown_type": r"unknown message type 0x0100",
    "unknown_command": r"unknown message type 0x0470",
    "bad_payload": r"malformed OUTPUT payload",
    "wrong_order": r"RUN command after the Output command",
    "end_without_output": r"End without an Output command",
    "start_from_deployment": r"unexpected START from the deployment",
    "other_completion": r"completion id 42",
    "flags_on_command": r"flags set on OUTPUT",
    "wrong_content_type": r"content-type 'text/html'",
    "http_error": r"HTTP 500: the deployment fell over",
    "stall": r"abort timeout",
}
SERVER_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "100ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "200ms",
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "1s",
    "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "1s",
}
DEADLINE_S = 30.0


class Stack:
    def __init__(self, server: PerdureServer) -> None:
        self.server = server
        self.http = httpx.Client(timeout=DEADLINE_S)

    def query(self, sql: str) -> list[dict[str, Any]]:
        response = self.http.post(
            f"{self.server.admin_url}/query",
            json={"query": sql},
            headers={"accept": "application/json"},
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows

    def invocation(self, invocation_id: str) -> dict[str, Any]:
        [row] = self.query(
            "SELECT status, retry_count, last_failure, completion_result FROM sys_invocation "
            f"WHERE id = '{invocation_id}'"
        )
        return row


@pytest.fixture(scope="module", params=["http1", "bidi"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp(f"broken-{request.param}")
    endpoint = Endpoint(
        "broken endpoint",
        perdure_serve(HERE / "broken_endpoint.py"),
        cwd=workdir,
        log_path=workdir / "endpoint.log",
    )
    server = PerdureServer(workdir / "server", SERVER_ENV)
    endpoint.start()
    server.start()
    try:
        register(
            server.admin_url, server.ingress_url, endpoint.uri, use_http_11=request.param == "http1"
        )
        stack = Stack(server)
        yield stack
        stack.http.close()
        # The server took all of it without an unhandled exception.
        assert "Traceback" not in server.log_text(), server.log_text()[-6000:]
    finally:
        server.stop()
        endpoint.stop()


@pytest.mark.parametrize("mode", [m for m in MODES if m != "garbage_after_end"])
def test_a_broken_attempt_fails_clearly_and_is_retried(stack: Stack, mode: str) -> None:
    ingress = stack.server.ingress_url
    sent = stack.http.post(f"{ingress}/Broken/{mode}/send", json="x")
    assert sent.status_code == 202, sent.text
    invocation_id = sent.json()["invocationId"]

    def failed_clearly() -> dict[str, Any] | None:
        row = stack.invocation(invocation_id)
        return row if row.get("last_failure") and row["retry_count"] >= 1 else None

    row = eventually_sync(failed_clearly, what=f"{mode}: a failed attempt", within=DEADLINE_S)
    assert re.search(EXPECTED_FAILURE[mode], row["last_failure"]), row
    # Meanwhile, other invocations are served as usual.
    healthy = stack.http.post(f"{ingress}/Healthy/say", json=mode)
    assert healthy.status_code == 200 and healthy.json() == f"healthy:{mode}"
    # Retried until the deployment answers properly, then completed exactly once.
    attached = stack.http.get(f"{ingress}/restate/invocation/{invocation_id}/attach")
    assert attached.status_code == 200, attached.text
    assert attached.json() == f"{mode}:x"
    # (The endpoint answers properly only after BROKEN_ATTEMPTS broken attempts, so this
    # answer proves the retries; a completed row has no retry_count, as on restate-server.)
    row = stack.invocation(invocation_id)
    assert row["status"] == "completed", row
    [outputs] = stack.query(
        "SELECT count(*) AS n FROM sys_journal "
        f"WHERE id = '{invocation_id}' AND entry_type = 'Command: Output'"
    )
    assert outputs["n"] == 1


def test_junk_after_end_is_ignored(stack: Stack) -> None:
    """End is final (nothing after it counts): the attempt's answer stands, once."""
    ingress = stack.server.ingress_url
    called = stack.http.post(f"{ingress}/Broken/garbage_after_end", json="y")
    assert called.status_code == 200, called.text
    assert called.json() == "garbage_after_end:y"
    invocation_id = called.headers["x-restate-id"]
    row = stack.invocation(invocation_id)
    assert row["status"] == "completed" and "last_failure" not in row, row
