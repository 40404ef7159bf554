"""Every ingress and admin route under hypothesis-generated requests, against a real
`perdure dev` (fuzz_services.py) over loopback HTTP.

Each request must be answered within ANSWER_BOUND_S (QUERY_BOUND_S for /query, whose engine
has a time limit of its own; no hung connection) and never with a
5xx of the server's own: the ingress's 503 "internal error" and the admin's 500 are catch-alls
for exceptions nobody handled, so either is a bug (the deliberate 5xx: see `_documented`).
Afterwards the server still serves and its log
holds no traceback. The admin paths come from its own OpenAPI document (`GET /openapi`) plus
the invocation routes it does not list.

PERDURE_FUZZ_EXAMPLES sets the cases per test (default 300; the long form: 10000).
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from perdure.server.durations import DurationError, parse_duration_ms
from perdure.server.query.engine import TIME_LIMIT_S as QUERY_TIME_LIMIT_S
from tests.support.perdure import PerdureServer

HERE = Path(__file__).parent
EXAMPLES = int(os.environ.get("PERDURE_FUZZ_EXAMPLES", "300"))
ANSWER_BOUND_S = 15.0
# POST /query may run up to the query engine's time limit before it answers (a 400).
QUERY_BOUND_S = QUERY_TIME_LIMIT_S + 15.0
WAIT_BOUND_MS = 2_000  # a longer ?delay= gets a key nobody else uses (no attach can wait on it)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# pytest's per-test timeout (120 s) is for the default size; the long form needs longer.
pytestmark = pytest.mark.timeout(120 + EXAMPLES // 10)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    server = PerdureServer(tmp_path_factory.mktemp("fuzz"), app=HERE / "fuzz_services.py")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=ANSWER_BOUND_S) as c:
        yield c


# ---- strategies ---------------------------------------------------------------------------

# Text that survives as one path segment: percent-encoded, so `/`, `%`, NUL, RTL marks,
# invalid surrogates (as their UTF-8 bytes) all reach the server's own decoding.
segment = st.one_of(
    st.text(max_size=30).map(lambda s: urllib.parse.quote(s, safe="")),
    st.binary(max_size=20).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
    st.sampled_from(["", ".", "..", "%ZZ", "%C3%28", "%00", "a%2Fb", "%2e%2e", "%", "x" * 300]),
)
invocation_ids = st.one_of(
    st.just("inv_1ahKYgqvtTFg2Cq1QiLW9X7HhVTpm1oIQp"),  # well formed, unknown
    st.from_regex(r"inv_1[0-9A-Za-z]{20,40}", fullmatch=True),
    segment,
)
services = st.sampled_from(["Echo", "Box", "Flow", "Nope", "restate", "echo"])
handlers = st.sampled_from(["say", "fail", "raw", "typed", "put", "peek", "run", "seen", "x"])
_interesting_delays = st.sampled_from(
    ["0", "100", "PT0.1S", "10ms", "1s", "-1s", "P9999Y", "P1M", "abc", "", "PT", "1e999s",
     "99999999999999999999", "PT1H", "1h 30m", "P1D"]
)  # fmt: skip
delays = st.one_of(_interesting_delays, st.text(max_size=12))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8).filter(lambda k: k != "uri"), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda v: ("json", v)),
    st.binary(max_size=200).map(lambda b: ("raw", b)),
    st.sampled_from([b"{", b"[[[[[[[[", b"[" * 5000, b'{"a":1}garbage', b"\xff\xfe", b"NaN"]).map(
        lambda b: ("raw", b)
    ),
)
content_types = st.sampled_from(
    [None, "application/json", "application/octet-stream", "text/plain", "application/x-garbage",
     "application/json; charset=latin-1", ""]
)  # fmt: skip
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40).map(
    str.strip
)


def _long_delay(query: dict[str, str]) -> bool:
    try:
        return parse_duration_ms(query.get("delay", "0")) > WAIT_BOUND_MS
    except DurationError:
        return False


@st.composite
def ingress_requests(draw: st.DrawFn) -> dict[str, Any]:
    svc, handler = draw(services), draw(handlers)
    key = draw(segment)
    shape = draw(st.integers(0, 12))
    query: dict[str, str] = {}
    if draw(st.booleans()):
        query["delay"] = draw(delays)
    if shape == 0:
        path = f"/{svc}/{handler}"
    elif shape == 1:
        path = f"/{svc}/{key}/{handler}"
    elif shape == 2:
        path = f"/{svc}/{handler}/send"
    elif shape == 3:
        path = f"/{svc}/{key}/{handler}/send"
    elif shape == 4:
        verb = draw(st.sampled_from(["call", "send"]))
        path = f"/restate/{verb}/{svc}/{key}/{handler}"
    elif shape == 5:
        op = draw(st.sampled_from(["attach", "output"]))
        path = f"/restate/invocation/{draw(invocation_ids)}/{op}"
    elif shape == 6:
        op = draw(st.sampled_from(["attach", "output"]))
        path = f"/restate/workflow/{svc}/{key}/{op}"
    elif shape == 7:
        op = draw(st.sampled_from(["resolve", "reject"]))
        path = f"/restate/awakeables/{draw(segment)}/{op}"
    elif shape == 8:
        path = f"/restate/{draw(st.sampled_from(['attach', 'output', 'lookup']))}"
    elif shape == 9:
        path = "/restate/health"
    elif shape == 10:
        idem, op = draw(segment), draw(st.sampled_from(["attach", "output"]))
        path = f"/restate/invocation/{svc}/{handler}/{idem}/{op}"
    else:
        path = "/" + "/".join(draw(st.lists(segment, max_size=6)))
    headers: dict[str, str] = {}
    if (ct := draw(content_types)) is not None:
        headers["content-type"] = ct
    if draw(st.booleans()):
        headers["idempotency-key"] = draw(header_text)
    if _long_delay(query):
        # A long wait is legitimate; keep it out of reach of any attach (unique key and id).
        unique = uuid.uuid4().hex
        path = path.replace(f"/{key}/", f"/{unique}/")
        headers["idempotency-key"] = unique
    method = draw(st.sampled_from(["POST", "POST", "GET", *METHODS]))
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": draw(bodies),
    }


ADMIN_TEMPLATES = [
    "/health", "/version", "/openapi", "/deployments", "/deployments/{x}", "/services",
    "/services/{svc}", "/services/{svc}/handlers", "/services/{svc}/handlers/{x}",
    "/services/{svc}/openapi", "/services/{svc}/state", "/query", "/invocations/{id}",
    "/invocations/{id}/{op}", "/internal/invocations_batch_operations/{op}", "/{x}",
]  # fmt: skip
admin_ops = st.sampled_from(["cancel", "kill", "purge", "pause", "resume", "restart", "x"])
deployment_uris = st.one_of(
    st.integers(1, 65535).map(lambda p: f"http://127.0.0.1:{p}"),
    st.sampled_from(["", "file:///etc/passwd", "gopher://127.0.0.1/", "http://user:pw@127.0.0.1:1",
                     "embedded://nope", "not a uri", "http://[::1", "http://127.0.0.1:99999"]),
)  # fmt: skip
sql = st.one_of(
    st.sampled_from(
        ["SELECT 1", "SELECT * FROM sys_invocation", "SELECT 1; SELECT 2", "DELETE FROM journal",
         "ATTACH 'x.db' AS x", "PRAGMA query_only=0", "SELECT load_extension('x')",
         "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT count(*) FROM r",
         "SELECT randomblob(100000000)", "SELECT * FROM invocations", "SELECT zeroblob(-1)"]
    ),
    st.text(max_size=60),
)  # fmt: skip


@st.composite
def admin_bodies(draw: st.DrawFn, path: str) -> Any:
    if path.startswith("/deployments"):
        body = {"uri": draw(deployment_uris)}
        for name in ("use_http_11", "force", "dry_run"):
            if draw(st.booleans()):
                body[name] = draw(json_values)
        return ("json", body)
    if path == "/query":
        return ("json", {"query": draw(sql)}) if draw(st.integers(0, 4)) else draw(bodies)
    return draw(bodies)


@st.composite
def admin_requests(draw: st.DrawFn) -> dict[str, Any]:
    template = draw(st.sampled_from(ADMIN_TEMPLATES))
    path = (
        template.replace("{svc}", draw(st.one_of(services, segment)))
        .replace("{x}", draw(segment))
        .replace("{id}", draw(invocation_ids))
        .replace("{op}", draw(admin_ops))
    )
    if draw(st.integers(0, 5)) == 0:
        path = f"/v{draw(st.integers(0, 9))}{path}"
    query: dict[str, str] = {}
    if draw(st.booleans()):
        name = draw(st.sampled_from(["force", "mode", "deployment", "limit", "x"]))
        query[name] = draw(
            st.one_of(st.sampled_from(["true", "false", "kill", "latest"]), header_text)
        )
    method = draw(st.sampled_from(["GET", "POST", "PATCH", "DELETE", *METHODS]))
    headers: dict[str, str] = {}
    if (ct := draw(content_types)) is not None:
        headers["content-type"] = ct
    if draw(st.booleans()):
        headers["accept"] = draw(st.sampled_from(["application/json", "*/*", "text/csv", ""]))
    body = draw(admin_bodies(path))
    return {"method": method, "path": path, "query": query, "headers": headers, "body": body}


# ---- sending and judging ------------------------------------------------------------------


def _send(client: httpx.Client, base: str, request: dict[str, Any]) -> httpx.Response:
    body = request["body"]
    content: bytes | None = None
    if body is not None:
        kind, value = body
        content = httpx.Request("POST", "http://x", json=value).content if kind == "json" else value
    url = httpx.URL(base + request["path"], params=request["query"] or None)
    # Header values as bytes: latin-1 text goes on the wire as it is, as a raw client would.
    headers = {k: v.encode("latin-1") for k, v in request["headers"].items()}
    bound = QUERY_BOUND_S if "/query" in request["path"] else ANSWER_BOUND_S
    try:
        return client.request(
            request["method"], url, content=content, headers=headers, timeout=bound
        )
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {bound} s: {request}")
    except httpx.RemoteProtocolError as exc:
        pytest.fail(f"the connection broke ({exc}): {request}")


# The catch-alls for an exception nobody handled (ingress, admin): each is a bug.
CATCH_ALL = ("internal error; if the request has", "internal error, see the server log")


def _documented(response: httpx.Response) -> bool:
    """A 5xx the server answers on purpose, as restate-server does: a handler's own failure
    (`x-restate-error-source: invocation`), discovery failures (META0003), 501 for removing a
    deployment without force, DataFusion's 500 for a query it cannot plan or run, 503 while
    the store cannot write. Not: the catch-alls, or a 5xx that is not our JSON at all
    (uvicorn's own 500 when the app raised)."""
    if response.headers.get("x-restate-error-source") == "invocation":
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return False
    return not body["message"].startswith(CATCH_ALL)


def _judge(response: httpx.Response, request: dict[str, Any]) -> None:
    if response.status_code >= 500 and not _documented(response):
        pytest.fail(f"{response.status_code} {response.text[:300]} for {request}")


@FUZZ
@given(request=ingress_requests())
def test_ingress_answers_every_request_without_a_server_error(
    dev: PerdureServer, client: httpx.Client, request: dict[str, Any]
) -> None:
    _judge(_send(client, dev.ingress_url, request), request)


@FUZZ
@given(request=admin_requests())
def test_admin_answers_every_request_without_a_server_error(
    dev: PerdureServer, client: httpx.Client, request: dict[str, Any]
) -> None:
    _judge(_send(client, dev.admin_url, request), request)


def test_the_admin_openapi_lists_the_fuzzed_routes(dev: PerdureServer) -> None:
    # The admin templates above cover every path the server documents.
    listed = set(httpx.get(f"{dev.admin_url}/openapi", timeout=10).json()["paths"])
    generic = {
        t.replace("{svc}", "{service}").replace("{x}", "{deployment}", 1) for t in ADMIN_TEMPLATES
    }
    generic |= {"/services/{service}/handlers/{handler}"}
    assert listed <= generic, listed - generic


def test_the_server_survived_with_a_clean_log(dev: PerdureServer) -> None:
    """Runs after the fuzzers (file order): still serving, and nothing unhandled logged."""
    assert httpx.get(f"{dev.ingress_url}/Echo/say", timeout=10).status_code in (200, 400, 405)
    assert httpx.post(f"{dev.ingress_url}/Echo/say", json=[1], timeout=10).json() == [1]
    assert httpx.get(f"{dev.admin_url}/health", timeout=10).status_code == 200
    log = dev.log_text()
    assert "Traceback" not in log, log[-6000:]
