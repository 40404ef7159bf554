"""End to end: perdure server + services written with the official restate-sdk 1.2.0."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

Poll = Callable[[Callable[[], bool], float, str], None]
JSON = {"content-type": "application/json"}


def test_register_and_describe(registered, sdk_services) -> None:
    admin = registered.admin
    deployments = httpx.get(f"{admin}/deployments").json()["deployments"]
    assert len(deployments) == 1
    deployment = deployments[0]
    assert deployment["id"].startswith("dp_")
    assert deployment["uri"] == sdk_services.url + "/"  # restate prints the root path
    assert deployment["protocol_type"] == "RequestResponse"
    names = {s["name"] for s in httpx.get(f"{admin}/services").json()["services"]}
    assert {"Counter", "ListObject", "Steps", "Proxy"} <= names
    counter = httpx.get(f"{admin}/v3/services/Counter").json()
    assert counter["ty"] == "VirtualObject"
    assert {h["name"]: h["ty"] for h in counter["handlers"]}["get"] == "Shared"
    # Registering the same URI again changes nothing and keeps the id.
    again = registered.register(sdk_services.url)
    assert again.status_code == 200
    assert again.json()["id"] == deployment["id"]
    version = httpx.get(f"{admin}/version").json()
    assert version["min_admin_api_version"] == 2
    assert httpx.get(f"{admin}/v1/services").status_code == 400
    health = httpx.get(f"{registered.ingress}/restate/health").json()
    assert "Counter" in health["services"]


def test_counter_state_survives_across_invocations(ingress) -> None:
    assert ingress.post("/Counter/c1/add", json=1).json() == {"oldValue": 0, "newValue": 1}
    assert ingress.post("/Counter/c1/add", json=2).json() == {"oldValue": 1, "newValue": 3}
    assert ingress.get("/Counter/c1/get").json() == 3
    # Keys are isolated.
    assert ingress.get("/Counter/c2/get").json() == 0


def test_run_executes_once_across_retries(ingress, sdk_services) -> None:
    started = time.monotonic()
    response = ingress.post("/Steps/run_once_then_fail", json="r1")
    assert response.status_code == 200, response.text
    assert response.json() == "value-r1"
    effects = sdk_services.effects()
    assert effects.count("run:r1") == 1  # the run body: once, its result replayed after
    assert effects.count("after:r1") == 3  # two failed attempts, then success
    # Default backoff: 500 ms then 1 s between the three attempts.
    assert time.monotonic() - started >= 1.4


def test_sleep_is_a_durable_timer(ingress) -> None:
    started = time.monotonic()
    response = ingress.post("/Steps/sleep_for", json=700)
    assert response.json() == "slept 700"
    assert time.monotonic() - started >= 0.7


def test_service_to_service_call_and_send(ingress, poll: Poll) -> None:
    request = {"service": "Counter", "key": "s2s", "handler": "add", "body": "4"}
    result = ingress.post("/Proxy/call", json=request)
    assert result.status_code == 200, result.text
    assert result.json() == '{"oldValue": 0, "newValue": 4}'
    sent = ingress.post("/Proxy/send", json=request)
    assert sent.status_code == 200, sent.text
    assert sent.json().startswith("inv_1")
    poll(lambda: ingress.get("/Counter/s2s/get").json() == 8, 10, "the sent add to land")


def test_exclusive_handlers_run_one_at_a_time_in_arrival_order(ingress, poll: Poll) -> None:
    # slow_append suspends (sleeps) while holding the key's lock: the later sends must
    # wait in the inbox and run in order.
    ids = []
    for value in "abcde":
        response = ingress.post("/ListObject/l1/slow_append/send", json=value)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "Accepted"
        ids.append(response.json()["invocationId"])
    assert len(set(ids)) == 5
    poll(lambda: len(ingress.get("/ListObject/l1/get").json()) == 5, 20, "five appends")
    assert ingress.get("/ListObject/l1/get").json() == list("abcde")


def test_shared_handler_is_not_blocked_by_the_lock(ingress) -> None:
    assert ingress.post("/ListObject/l2/slow_append/send", json="x").status_code == 202
    started = time.monotonic()
    # The exclusive handler sleeps 300 ms holding the lock; a shared read answers now.
    assert ingress.get("/ListObject/l2/get").json() == []
    assert time.monotonic() - started < 0.3


def test_idempotent_send_and_call(ingress, poll: Poll) -> None:
    headers = {"idempotency-key": "once-1", **JSON}
    first = ingress.post("/Counter/idem/add/send", content=b"5", headers=headers)
    second = ingress.post("/Counter/idem/add/send", content=b"5", headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "Accepted"
    assert second.json() == {
        "invocationId": first.json()["invocationId"],
        "status": "PreviouslyAccepted",
    }
    poll(lambda: ingress.get("/Counter/idem/get").json() == 5, 10, "the send to run")
    headers = {"idempotency-key": "once-2", **JSON}
    call1 = ingress.post("/Counter/idem/add", content=b"1", headers=headers)
    call2 = ingress.post("/Counter/idem/add", content=b"1", headers=headers)
    assert call1.json() == call2.json() == {"oldValue": 5, "newValue": 6}
    assert call1.headers["x-restate-id"] == call2.headers["x-restate-id"]
    assert ingress.get("/Counter/idem/get").json() == 6


def test_terminal_failure_is_returned_with_its_code(ingress) -> None:
    response = ingress.post("/Steps/terminal", json="boom")
    assert response.status_code == 418
    assert response.json()["code"] == 418
    assert response.json()["message"] == "boom"
    assert response.headers["x-restate-error-source"] == "invocation"


def test_ingress_errors(ingress) -> None:
    unknown = ingress.post("/Nope/h", json=1)
    assert unknown.status_code == 404
    assert unknown.json()["source"] == "ingress"
    assert unknown.headers["x-restate-error-source"] == "ingress"
    assert "service 'Nope' not found" in unknown.json()["message"]
    assert ingress.post("/Counter/k/nope", json=1).status_code == 404
    assert ingress.post("/Counter/add", json=1).status_code == 400  # key missing
    assert ingress.post("/Steps/sleep_for?delay=1s", json=1).status_code == 400
    assert ingress.put("/Steps/sleep_for", json=1).status_code == 405
    bad_key = ingress.post(
        "/Counter/k/add/send", content=b"1", headers={"idempotency-key": b"caf\xc3\xa9", **JSON}
    )
    assert bad_key.status_code == 400
    assert bad_key.json()["message"] == "bad header idempotency-key: ToStrError { _priv: () }"
    assert ingress.get("/restate/invocation/not-an-id/output").status_code == 400
    # The server keeps serving.
    assert ingress.post("/Counter/after-errors/add", json=1).status_code == 200


def test_delayed_send_waits(ingress, poll: Poll) -> None:
    started = time.monotonic()
    response = ingress.post("/Counter/delayed/add/send?delay=600ms", json=1)
    assert response.status_code == 202
    poll(lambda: ingress.get("/Counter/delayed/get").json() == 1, 10, "the delayed send")
    assert time.monotonic() - started >= 0.6


def test_output_and_attach_by_invocation_id(ingress) -> None:
    sent = ingress.post("/Steps/sleep_for/send", json=300).json()["invocationId"]
    assert ingress.get(f"/restate/invocation/{sent}/output").status_code == 470
    attached = ingress.get(f"/restate/invocation/{sent}/attach")
    assert attached.json() == "slept 300"
    assert ingress.get(f"/restate/invocation/{sent}/output").json() == "slept 300"


def test_next_retry_delay_overrides_the_backoff(ingress) -> None:
    started = time.monotonic()
    assert ingress.post("/Steps/retry_after", json="ra").json() == 3
    # The default policy would wait 500 ms + 1 s; the handler asked for 50 ms twice.
    assert time.monotonic() - started < 1.2


def test_http2_deployment_driven_in_request_response_mode(server, sdk_services) -> None:
    # Without use_http_11: discovery and attempts go over h2c (prior knowledge); the SDK
    # advertises BIDI_STREAM, which perdure drives request-response for now.
    response = httpx.post(f"{server.admin}/deployments", json={"uri": sdk_services.url}, timeout=30)
    assert response.status_code == 201, response.text
    listed = httpx.get(f"{server.admin}/deployments").json()["deployments"][0]
    assert listed["http_version"] == "HTTP/2.0"
    with httpx.Client(base_url=server.ingress, timeout=30) as client:
        assert client.post("/Counter/h2/add", json=2).json() == {"oldValue": 0, "newValue": 2}
        request = {"service": "Counter", "key": "h2", "handler": "add", "body": "1"}
        assert client.post("/Proxy/call", json=request).json() == '{"oldValue": 2, "newValue": 3}'
