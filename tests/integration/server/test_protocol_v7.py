"""Protocol V7 between perdure server and the official restate-sdk 1.2.0 (its shared core
negotiates V7 when the server picks it): named signals as awaitable futures, ctx.run with
the compact run acknowledgement, scope and limit key carried on a call. Over HTTP/1.1
(request-response: every wait is a suspension) and HTTP/2 (bidi)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.server.conftest import PerdureServer, ServeApp, wait_until


@pytest.fixture(autouse=True)
def v7_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """V7 is experimental in restate-server 1.7 and perdure alike: the server is asked for it."""
    monkeypatch.setenv("RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7", "true")


@pytest.fixture(scope="module")
def v7_url(serve_app: ServeApp) -> str:
    return serve_app("v7_services:app", {})


@pytest.fixture(params=[True, False], ids=["http11", "http2"])
def ingress(
    request: pytest.FixtureRequest, server: PerdureServer, v7_url: str
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    body = {"uri": v7_url, "use_http_11": request.param}
    registered = httpx.post(f"{server.admin}/deployments", json=body, timeout=30)
    assert registered.status_code == 201, registered.text
    with (
        httpx.Client(base_url=server.ingress, timeout=30) as client,
        httpx.Client(
            base_url=server.admin, timeout=30, headers={"accept": "application/json"}
        ) as admin,
    ):
        yield client, admin


def pinned_version(admin: httpx.Client, invocation_id: str) -> int:
    rows = admin.post(
        "/query",
        json={
            "query": "SELECT pinned_service_protocol_version AS v FROM sys_invocation "
            f"WHERE id = '{invocation_id}'"
        },
        headers={"accept": "application/json"},
    ).json()["rows"]
    return int(rows[0]["v"])


def test_named_signals_resolve_and_reject(ingress: tuple[httpx.Client, httpx.Client]) -> None:
    client, admin = ingress
    waiting = client.post("/V7/wait_signal/send").json()["invocationId"]

    def suspended(invocation_id: str) -> bool:
        sql = f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'"
        rows = admin.post("/query", json={"query": sql}).json()["rows"]
        return bool(rows) and rows[0]["status"] in ("suspended", "running")

    wait_until(lambda: suspended(waiting), 20, "the waiter to wait for its signal")
    assert client.post("/V7/send_signal", json={"id": waiting, "value": "yes"}).status_code == 200
    assert client.get(f"/restate/invocation/{waiting}/attach").json() == "yes"
    assert pinned_version(admin, waiting) == 7

    rejected = client.post("/V7/wait_signal/send").json()["invocationId"]
    # Awaiting a signal journals no command, so the deployment is not pinned yet (restate
    # pins it with the first command after Input).
    wait_until(lambda: suspended(rejected), 20, "the second waiter to wait for its signal")
    answer = client.post("/V7/send_signal", json={"id": rejected, "reject": "no thanks"})
    assert answer.status_code == 200
    attached = client.get(f"/restate/invocation/{rejected}/attach")
    assert attached.status_code == 418 and "no thanks" in attached.text


def test_runs_are_acknowledged(ingress: tuple[httpx.Client, httpx.Client]) -> None:
    client, admin = ingress
    answer = client.post("/V7/steps")
    assert answer.status_code == 200, answer.text
    assert answer.json() == 60
    assert pinned_version(admin, answer.headers["x-restate-id"]) == 7


def test_scope_and_limit_key_reach_the_callee(ingress: tuple[httpx.Client, httpx.Client]) -> None:
    client, _ = ingress
    answer = client.post("/V7/scoped", json=4)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"n": 4, "scope": "tenant-a", "limit_key": "k1"}
