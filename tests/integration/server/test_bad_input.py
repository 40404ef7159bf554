"""Bad input acceptance (issue 3; reliability S16, R1): malformed paths, JSON, headers, ids,
unknown services and handlers, oversized bodies, wrong methods and garbage admin bodies
get their documented status codes; the server keeps serving, and nothing is written (no
invocation, no state, no deployment change, no new file)."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LIMIT = 64 * 1024  # a small ingress body limit, so oversized bodies stay cheap to send
JSON = {"content-type": "application/json"}


@pytest.fixture(autouse=True)
def small_body_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Autouse: set before the `server` fixture starts the subprocess, which inherits it.
    monkeypatch.setenv("RESTATE_NETWORKING__MESSAGE_SIZE_LIMIT", str(LIMIT))


@pytest.fixture
def ingress(registered) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registered.ingress, timeout=30) as client:
        yield client


def _files(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in data_dir.rglob("*")}


def _query(admin: str, sql: str) -> list[dict[str, object]]:
    response = httpx.post(
        f"{admin}/query", json={"query": sql}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["rows"]
    return rows


def _raw_http(port: int, head: bytes, body_chunks: Iterator[bytes] | None = None) -> bytes:
    """Send a hand-written request; return what the server answered (status line first).

    Body chunks are sent one at a time and sending stops as soon as an answer is readable,
    as a client that honours an early 413 does.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in body_chunks or ():
            if select.select([sock], [], [], 0.05)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server answered and closed while we were still sending
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        return received


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


NESTED = b"[" * 100_000 + b"]" * 100_000

# (method, path, body, headers, expected status)
INGRESS_CASES: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
    # paths
    ("POST", "/", b"1", JSON, 400),
    ("POST", "/Counter", b"1", JSON, 400),
    ("POST", "/a/b/c/d/e/f/g/h", b"1", JSON, 400),
    ("POST", "/Counter/k", b"1", JSON, 400),
    ("POST", "/Counter/k/add/send/more", b"1", JSON, 400),
    ("POST", "/Counter/%C3%28/add", b"1", JSON, 400),
    ("POST", "/restate/nope", b"", {}, 404),
    ("GET", "/openapi", None, {}, 400),
    # admin routes on the ingress: restate's path rule first (one slash), else unknown service
    ("POST", "/deployments", b"{}", JSON, 400),
    ("POST", "/v2/deployments", b"{}", JSON, 404),
    ("GET", "/services/Counter", None, {}, 404),
    # unknown targets
    ("POST", "/Nope/h", b"1", JSON, 404),
    ("POST", "/Counter/k/nope", b"1", JSON, 404),
    ("POST", "/restate/call/Nope/h", b"1", JSON, 404),
    # methods
    ("PUT", "/Counter/k/add", b"1", JSON, 405),
    ("DELETE", "/Counter/k/add", None, {}, 405),
    ("PATCH", "/Steps/sleep_for", b"1", JSON, 405),
    ("PUT", "/restate/call/Counter/k/add", b"1", JSON, 405),
    # JSON bodies where the handler takes JSON
    ("POST", "/Counter/k/add", b'{"a":', JSON, 400),
    ("POST", "/Counter/k/add", b"1 2", JSON, 400),
    ("POST", "/Counter/k/add", b'"\xff"', JSON, 400),
    ("POST", "/Counter/k/add", b"\xef\xbb\xbf1", JSON, 400),
    ("POST", "/Counter/k/add", b"NaN", JSON, 400),
    ("POST", "/Counter/k/add", b"1e999999", JSON, 400),
    ("POST", "/Counter/k/add", NESTED[: LIMIT // 2] + NESTED[-(LIMIT // 2) :], JSON, 400),
    ("POST", "/Counter/k/add", b"1", {"content-type": "text/plain"}, 400),
    ("POST", "/Counter/k/add", b"1", {}, 400),
    ("POST", "/Counter/k/get", b"1", JSON, 400),
    # headers
    ("POST", "/Counter/k/add", b"1", {**JSON, "idempotency-key": "caf\xe9"}, 400),
    ("POST", "/Counter/k/add", b"1", {**JSON, "x-restate-limit-key": "l"}, 400),
    # delays
    ("POST", "/Counter/k/add?delay=1s", b"1", JSON, 400),
    ("POST", "/Counter/k/add/send?delay=P1Y", b"1", JSON, 400),
    ("POST", "/Counter/k/add/send?delay=-1s", b"1", JSON, 400),
    ("POST", "/restate/scope/s/send/Counter/k/add", b"1", JSON, 400),
    # ids
    ("GET", "/restate/invocation/not-an-id/output", None, {}, 400),
    ("GET", "/restate/invocation/inv_1%00/attach", None, {}, 400),
    # size
    ("POST", "/Counter/k/add", b"1" * (LIMIT + 1), JSON, 413),
]

ADMIN_CASES: list[tuple[str, str, bytes | None, int]] = [
    ("POST", "/deployments", b"{", 400),
    ("POST", "/deployments", b"[]", 400),
    ("POST", "/deployments", b'"uri"', 400),
    ("POST", "/deployments", b'{"uri": 5}', 422),  # restate's body type refusal
    ("POST", "/deployments", b"\xff\xfe", 400),
    ("POST", "/deployments", b'{"uri": "file:///etc/passwd"}', 400),
    ("POST", "/deployments", b'{"uri": "http://x", "additional_headers": {"a": 1}}', 400),
    ("POST", "/deployments", b'{"arn": "arn:aws:lambda:x"}', 400),
    ("PATCH", "/deployments/dp_nope", b"{}", 400),  # not a deployment id
    ("GET", "/deployments/a/b", None, 404),
    ("PUT", "/deployments", b"{}", 405),
    ("PATCH", "/services/Counter", b'{"public": "yes"}', 422),
    ("PATCH", "/services/Counter", b'{"idempotency_retention": "forever"}', 422),
    ("PATCH", "/services/Counter", b'{"abort_timeout": -5}', 422),
    ("PATCH", "/services/Counter", b"[1]", 400),
    ("DELETE", "/services", None, 405),
    ("POST", "/services/Counter/state", b'{"object_key": 1}', 400),
    ("POST", "/services/Counter/state", b'{"object_key": "k", "new_state": [1]}', 400),
    ("POST", "/services/Counter/state", b'{"object_key": "k", "new_state": {"a": "x"}}', 400),
    ("POST", "/services/Counter/state", b'{"object_key": "k", "new_state": {}, "scope": "s"}', 400),
    ("POST", "/query", b"{", 400),
    ("POST", "/query", b'{"query": 5}', 400),
    ("POST", "/query", b'{"query": ""}', 400),
    ("POST", "/query", b'{"query": "SELEC nothing"}', 400),
    ("POST", "/query", b'{"query": "DELETE FROM sys_invocation"}', 400),
    ("POST", "/query", b'{"query": "DROP VIEW sys_invocation"}', 400),
    # restate-server's codes for these (DataFusion's refusals): 500 for what parses but
    # cannot run or is not supported, 400 for what is no statement or DDL/DML.
    ("POST", "/query", b'{"query": "SELECT 1; DELETE FROM state"}', 500),
    ("POST", "/query", b'{"query": "ATTACH \'evil.db\' AS e"}', 500),
    ("POST", "/query", b'{"query": "VACUUM INTO \'copy.db\'"}', 500),
    ("POST", "/query", b'{"query": "PRAGMA query_only=0"}', 500),
    ("POST", "/query", b'{"query": "SELECT * FROM invocations"}', 500),
    ("POST", "/query", b'{"query": "SELECT load_extension(\'x\')"}', 500),
    ("POST", "/query", b'{"query": "SELECT length(randomblob(1000000000))"}', 500),
    ("POST", "/query", b'{"query": "COPY (SELECT 1) TO \'/tmp/perdure-copy.csv\'"}', 400),
    (
        "POST",
        "/query",
        b'{"query": "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION \'/etc\'"}',
        400,
    ),
    ("POST", "/query", b'{"query": "SELECT * FROM \'/etc/passwd\'"}', 500),
    ("GET", "/query", None, 405),
    ("GET", "/nope", None, 404),
    ("GET", "/v1/services", None, 400),
    ("GET", "/v9/services", None, 400),
]


def test_bad_input_is_refused_and_changes_nothing(registered, ingress: httpx.Client) -> None:
    server = registered
    admin = server.admin
    data_dir = server.data_dir
    deployments_before = httpx.get(f"{admin}/deployments").json()
    services_before = httpx.get(f"{admin}/services").json()
    files_before = _files(data_dir)

    for method, path, body, headers, expected in INGRESS_CASES:
        # As bytes: a value beyond ASCII goes out as sent (latin-1), for the server to refuse.
        raw_headers = {k: v.encode("latin-1") for k, v in headers.items()}
        response = ingress.request(method, path, content=body, headers=raw_headers)
        what = (method, path, body[:40] if body else body, response.text)
        assert response.status_code == expected, what
        assert response.json()["message"], what
    for method, path, body, expected in ADMIN_CASES:
        response = httpx.request(method, f"{admin}{path}", content=body, headers=JSON, timeout=30)
        assert response.status_code == expected, (method, path, body, response.text)
        if response.headers.get("content-type", "").startswith("text/plain"):
            # Refused before any handler, in plain text, as restate's web framework does.
            assert response.text, (method, path)
        elif response.content:  # restate's router answers an unknown path with no body
            assert set(response.json()) == {"message", "restate_code"}, (method, path)

    # Over the raw socket: a declared length beyond the limit is refused before any body.
    head = (
        b"POST /Counter/k/add HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 99999999999\r\n\r\n"
    )
    assert _status(_raw_http(server.ingress_port, head)) == 413
    # A chunked body is refused once it crosses the limit, without reading it all.
    head = (
        b"POST /Counter/k/add HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (LIMIT // 4, b"1" * (LIMIT // 4))
    assert _status(_raw_http(server.ingress_port, head, iter([chunk] * 64))) == 413
    # Malformed HTTP is answered by the HTTP layer (h11), not by a crash.
    assert _status(_raw_http(server.ingress_port, b"POST /x HTTP/1.1\r\nbad header\r\n\r\n")) == 400

    # Nothing was written ...
    assert _query(admin, "SELECT count(1) AS n FROM sys_invocation") == [{"n": 0}]
    assert _query(admin, "SELECT count(1) AS n FROM state") == [{"n": 0}]
    assert httpx.get(f"{admin}/deployments").json() == deployments_before
    assert httpx.get(f"{admin}/services").json() == services_before
    new_files = {f for f in _files(data_dir) - files_before if not f.endswith(("-wal", "-shm"))}
    assert new_files == set()
    # The server runs in this test's working directory: a relative ATTACH or VACUUM INTO
    # would have created its file here.
    assert not Path("evil.db").exists() and not Path("copy.db").exists()
    # ... and the server keeps serving, on the same connection pool too.
    response = ingress.post("/Counter/k/add", json=1)
    assert response.status_code == 200, response.text
    assert response.json() == {"oldValue": 0, "newValue": 1}
    assert _query(admin, "SELECT status FROM sys_invocation") == [{"status": "completed"}]
    assert server.process is not None and server.process.poll() is None
