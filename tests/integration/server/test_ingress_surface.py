"""Ingress routes and request rules (surfaces §1.1-§1.4) against `perdure server` with
official restate-sdk 1.2.0 services (surface_services.py under hypercorn)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

import httpx
import pytest

JSON = {"content-type": "application/json"}
Poll = Callable[[Callable[[], bool], float, str], None]


@pytest.fixture(scope="module")
def surface_services(serve_app, tmp_path_factory: pytest.TempPathFactory) -> str:
    """surface_services.py under hypercorn (conftest.serve_app: stopped by PID, and with
    the test process)."""
    effects = tmp_path_factory.mktemp("surface") / "effects"
    return serve_app("surface_services:app", {"PERDURE_TEST_EFFECTS": str(effects)})


@pytest.fixture
def client(server, surface_services: str) -> Iterator[httpx.Client]:
    registered = server.register(surface_services)
    assert registered.status_code == 201, registered.text
    with httpx.Client(base_url=server.ingress, timeout=30) as http:
        yield http


def _error(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["source"] == "ingress"
    assert text in body["message"], body["message"]
    assert response.headers["x-restate-error-source"] == "ingress"


def test_new_call_and_send_api(client: httpx.Client, poll: Poll) -> None:
    called = client.post("/restate/call/Counter/new-api/add", json=2)
    assert called.status_code == 200, called.text
    assert called.json() == {"oldValue": 0, "newValue": 2}
    assert called.headers["x-restate-id"].startswith("inv_1")
    assert called.headers["content-type"] == "application/json"
    sent = client.post("/restate/send/Counter/new-api/add", json=3)
    assert sent.status_code == 202
    assert sent.json()["status"] == "Accepted"
    assert "executionTime" not in sent.json()
    poll(lambda: client.get("/Counter/new-api/get").json() == 5, 10, "the send")
    # An unkeyed service on the new API: no key segment.
    assert client.post("/restate/call/Echo/text", json="hi").json() == "hi"
    _error(client.post("/restate/call/Echo/k/text", json="hi"), 400, "bad path")
    _error(client.post("/restate/call/Counter/add", json=1), 400, "bad path")
    _error(client.put("/restate/call/Echo/text", json="hi"), 405, "method not allowed")
    _error(client.post("/restate/call/Nope/h", json=1), 404, "service 'Nope' not found")
    _error(client.post("/restate/call/Echo/nope", json=1), 404, "handler 'nope'")


def test_delayed_send_reports_its_execution_time(client: httpx.Client, poll: Poll) -> None:
    before = datetime.datetime.now(datetime.UTC)
    sent = client.post("/restate/send/Counter/later/add?delay=1s", json=1)
    assert sent.status_code == 202, sent.text
    at = datetime.datetime.fromisoformat(sent.json()["executionTime"].replace("Z", "+00:00"))
    assert before + datetime.timedelta(milliseconds=900) <= at
    assert at <= before + datetime.timedelta(seconds=5)
    assert client.get("/Counter/later/get").json() == 0  # not yet
    poll(lambda: client.get("/Counter/later/get").json() == 1, 10, "the delayed send")
    # Bare integers are milliseconds (the official Python client sends ?delay=<ms>).
    assert client.post("/Counter/later/add/send?delay=10", json=1).status_code == 202
    assert client.post("/Counter/later/add/send?DELAY=PT0.01S", json=1).status_code == 202
    poll(lambda: client.get("/Counter/later/get").json() == 3, 10, "the ms and ISO sends")


@pytest.mark.parametrize("delay", ["P1Y", "1 month", "-5s", "soon", "", "P", "99999999999d"])
def test_bad_delays_are_refused(client: httpx.Client, delay: str) -> None:
    response = client.post("/Counter/d/add/send", params={"delay": delay}, json=1)
    _error(response, 400, "bad delay query parameter")


def test_scope_and_limit_key_need_vqueues(client: httpx.Client) -> None:
    _error(
        client.post("/restate/scope/s1/call/Counter/k/add", json=1),
        400,
        "scoped invocations require vqueues to be enabled",
    )
    _error(
        client.post("/Counter/k/add", json=1, headers={"x-restate-limit-key": "a"}),
        400,
        "limit-key requires a scope to be set",
    )
    _error(client.post("/Counter/k/add?limit-key=a", json=1), 400, "limit-key requires a scope")
    _error(client.post("/Counter/k/add?delay=1s", json=1), 400, "cannot use the delay")


def test_headers_forwarded_to_the_handler(client: httpx.Client) -> None:
    response = client.post(
        "/Echo/headers?x=1",
        json="",
        headers={"x-my-custom-header": "v1", "idempotency-key": "hdr-1"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["x-my-custom-header"] == "v1"
    assert seen["x-restate-ingress-path"] == "/Echo/headers?x=1"
    for dropped in ("host", "connection", "idempotency-key"):
        assert dropped not in seen
    bad = client.post("/Echo/headers", json="", headers={"x-bad": "caf\u00e9".encode()})
    _error(bad, 400, "bad header x-bad: ToStrError { _priv: () }")


def test_content_type_rules_and_output_content_type(client: httpx.Client) -> None:
    payload = bytes(range(256))
    raw = client.post(
        "/Echo/raw", content=payload, headers={"content-type": "application/x-anything"}
    )
    assert raw.status_code == 200, raw.text
    assert raw.content == payload
    assert raw.headers["content-type"] == "application/octet-stream"
    # No input: an empty body passes (with or without a content-type), a body does not.
    assert client.post("/Echo/nothing").json() == "nothing in, this out"
    assert client.post("/Echo/nothing", headers=JSON).status_code == 200
    _error(client.post("/Echo/nothing", json="x"), 400, "input validation error")
    # JSON input: content-type must match and the body must be JSON.
    _error(
        client.post("/Echo/text", content=b'"x"', headers={"content-type": "text/plain"}),
        400,
        "Content-type 'text/plain' does not match 'application/json'",
    )
    _error(client.post("/Echo/text", content=b'"x"'), 400, "Empty content-type")
    _error(client.post("/Echo/text", content=b'{"a":', headers=JSON), 400, "not valid JSON")
    assert (
        client.post(
            "/Echo/text",
            content=b'"x"',
            headers={"content-type": "application/json; charset=utf-8"},
        ).json()
        == "x"
    )


def test_retained_call_reports_when_it_expires(client: httpx.Client) -> None:
    first = client.post("/Echo/text", json="e", headers={"idempotency-key": "exp-1"})
    # As restate: a live result comes without an expiry, the stored one with it.
    assert first.status_code == 200 and "idempotency-expires" not in first.headers
    response = client.post("/Echo/text", json="e", headers={"idempotency-key": "exp-1"})
    assert response.status_code == 200
    expires = datetime.datetime.fromisoformat(response.headers["idempotency-expires"])
    # The default retention is one day.
    remaining = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(hours=23) < remaining <= datetime.timedelta(days=1)


def test_private_service_is_callable_only_from_services(server, client: httpx.Client) -> None:
    _error(client.post("/Hidden/greet", json="a"), 400, "the invoked service is not public")
    _error(client.post("/restate/call/Hidden/greet", json="a"), 400, "not public")
    request = {"service": "Hidden", "handler": "greet", "body": '"b"'}
    via_proxy = client.post("/Proxy/call", json=request)
    assert via_proxy.status_code == 200, via_proxy.text
    assert via_proxy.json() == '"Hello b"'
    patched = httpx.patch(f"{server.admin}/services/Hidden", json={"public": True})
    assert patched.status_code == 200 and patched.json()["public"] is True
    assert client.post("/Hidden/greet", json="c").json() == "Hello c"
    # And back: a public service made private through the admin API.
    assert httpx.patch(f"{server.admin}/services/Echo", json={"public": False}).status_code == 200
    _error(client.post("/Echo/text", json="x"), 400, "not public")


def test_health_and_openapi_on_the_ingress(client: httpx.Client) -> None:
    health = client.get("/restate/health")
    assert health.status_code == 200
    assert {"Counter", "Echo", "Hidden", "Proxy", "Flow"} <= set(health.json()["services"])
    # restate's answers: one segment is a bad path; its `/openapi/…` route serves nothing.
    assert client.get("/openapi").status_code == 400
    assert client.post("/openapi/x").status_code == 404
