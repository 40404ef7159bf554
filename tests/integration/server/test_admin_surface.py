"""Admin API surface (surfaces §2) against `perdure server` with official restate-sdk
1.2.0 services (sdk_services.py under hypercorn): deployments, services, state, /query."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pyarrow

Poll = Callable[[Callable[[], bool], float, str], None]
ACCEPT_JSON = {"accept": "application/json"}


def _query(admin: str, sql: str) -> list[dict[str, object]]:
    response = httpx.post(f"{admin}/query", json={"query": sql}, headers=ACCEPT_JSON)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["rows"]
    return rows


def _admin_error(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "restate_code"}
    assert text in body["message"], body["message"]


def test_version_health_and_openapi(server) -> None:
    version = httpx.get(f"{server.admin}/version").json()
    assert version["min_admin_api_version"] == 2 and version["max_admin_api_version"] == 4
    assert version["perdure_version"]
    for prefix in ("", "/v2", "/v3", "/v4"):
        assert httpx.get(f"{server.admin}{prefix}/health").status_code == 200
    unsupported = httpx.get(f"{server.admin}/v1/health")  # plain text, as restate answers
    assert unsupported.status_code == 400
    assert unsupported.text.startswith("Unsupported Admin API version V1")
    spec = httpx.get(f"{server.admin}/openapi").json()
    assert spec["openapi"].startswith("3.1") and "/deployments" in spec["paths"]


def test_registration_semantics(server, sdk_services) -> None:
    admin, uri = server.admin, sdk_services.url
    dry = httpx.post(f"{admin}/deployments", json={"uri": uri, "dry_run": True}, timeout=30)
    assert dry.status_code == 201, dry.text
    assert httpx.get(f"{admin}/deployments").json() == {"deployments": []}  # nothing stored
    first = httpx.post(f"{admin}/deployments", json={"uri": uri, "use_http_11": True}, timeout=30)
    assert first.status_code == 201, first.text
    deployment_id = first.json()["id"]
    assert first.headers["location"] == f"deployments/{deployment_id}"
    # Same uri and headers: unchanged (200) on the unversioned API and v3/v4 ...
    again = httpx.post(f"{admin}/v3/deployments", json={"uri": uri, "use_http_11": True})
    assert again.status_code == 200 and again.json()["id"] == deployment_id
    # ... 409 on v2 when force is explicitly off; v2's default force overwrites in place.
    v2 = httpx.post(
        f"{admin}/v2/deployments", json={"uri": uri, "force": False, "use_http_11": True}
    )
    _admin_error(v2, 409, "already exists")
    forced = httpx.post(f"{admin}/v2/deployments", json={"uri": uri, "use_http_11": True})
    assert forced.status_code == 201 and forced.json()["id"] == deployment_id
    counter = httpx.get(f"{admin}/services/Counter").json()
    assert counter["revision"] == 2 and counter["deployment_id"] == deployment_id
    # Other headers make another deployment, which becomes the latest for its services.
    other = httpx.post(
        f"{admin}/deployments",
        json={"uri": uri, "use_http_11": True, "additional_headers": {"x-tenant": "b"}},
        timeout=30,
    )
    assert other.status_code == 201 and other.json()["id"] != deployment_id
    listed = httpx.get(f"{admin}/deployments").json()["deployments"]
    assert len(listed) == 2
    assert {"name": "Counter", "revision": 3} in [
        s for d in listed for s in d["services"] if d["id"] == other.json()["id"]
    ]
    # Registration errors.
    unreachable = httpx.post(f"{admin}/deployments", json={"uri": "http://127.0.0.1:9"})
    assert unreachable.status_code == 500
    assert unreachable.json()["restate_code"] == "META0003"
    # URIs restate's parser takes whose host or port no client can use: unreachable too.
    for bad in ("http://h:abc/", "http://[zz]/"):
        answer = httpx.post(f"{admin}/deployments", json={"uri": bad})
        assert answer.status_code == 500 and answer.json()["restate_code"] == "META0003", bad
    unclosed = httpx.post(f"{admin}/deployments", json={"uri": "http://[::1"})
    assert unclosed.status_code == 422 and "RegisterDeploymentRequest" in unclosed.text
    _admin_error(httpx.post(f"{admin}/deployments", json={"uri": "ftp://x"}), 400, "scheme")
    no_uri = httpx.post(f"{admin}/deployments", json={})  # restate's body type refusal
    assert no_uri.status_code == 422 and "RegisterDeploymentRequest" in no_uri.text
    _admin_error(
        httpx.post(f"{admin}/deployments", json={"uri": uri, "force": "yes"}), 400, "force"
    )


def test_deployment_get_patch_delete(registered, sdk_services) -> None:
    admin = registered.admin
    deployment = httpx.get(f"{admin}/deployments").json()["deployments"][0]
    full = httpx.get(f"{admin}/deployments/{deployment['id']}").json()
    assert {s["name"] for s in full["services"]} >= {"Counter", "Proxy"}
    assert all("handlers" in s for s in full["services"])
    unknown = "dp_1" + "0" * 22  # well formed, never registered
    _admin_error(httpx.get(f"{admin}/deployments/{unknown}"), 404, "does not exist")
    malformed = httpx.get(f"{admin}/deployments/dp_nope")  # restate: its path extractor's 400
    assert malformed.status_code == 400 and "Cannot parse `deployment`" in malformed.text
    patched = httpx.patch(
        f"{admin}/deployments/{deployment['id']}",
        json={"additional_headers": {"x-extra": "1"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["additional_headers"] == {"x-extra": "1"}
    with httpx.Client(base_url=registered.ingress, timeout=30) as ingress:
        # Invocations still reach the deployment, now with the extra header.
        assert ingress.post("/Counter/p/add", json=1).status_code == 200
    overwritten = httpx.patch(
        f"{admin}/deployments/{deployment['id']}", json={"overwrite": True}, timeout=30
    )
    assert overwritten.status_code == 200, overwritten.text
    assert httpx.get(f"{admin}/services/Counter").json()["revision"] == 2
    _admin_error(httpx.delete(f"{admin}/deployments/{deployment['id']}"), 501, "force=true")
    assert httpx.delete(f"{admin}/deployments/{deployment['id']}?force=true").status_code == 202
    assert httpx.get(f"{admin}/deployments").json() == {"deployments": []}
    assert httpx.get(f"{admin}/services").json() == {"services": []}


def test_service_metadata_and_patch(registered) -> None:
    admin = registered.admin
    counter = httpx.get(f"{admin}/services/Counter").json()
    assert counter["ty"] == "VirtualObject" and counter["public"] is True
    assert counter["idempotency_retention"] == "1d" and counter["journal_retention"] == "1d"
    # Registered for HTTP/1.1, request-response: no inactivity timeout applies (restate: 0s).
    assert counter["inactivity_timeout"] == "0s" and counter["abort_timeout"] == "10m"
    assert "workflow_completion_retention" not in counter  # workflows only
    assert counter["retry_policy"] == {
        "initial_interval": "500ms",
        "exponentiation_factor": 2.0,
        "max_attempts": 70,
        "max_interval": "1m",
        "on_max_attempts": "Pause",
    }
    add = next(h for h in counter["handlers"] if h["name"] == "add")
    assert add["ty"] == "Exclusive" and add["input_json_schema"]["type"] == "integer"
    assert "JSON" in add["input_description"] and add["output_description"].startswith("JSON")
    get = httpx.get(f"{admin}/services/Counter/handlers/get").json()
    assert get["ty"] == "Shared" and get["input_description"] == "none"
    names = [h["name"] for h in httpx.get(f"{admin}/services/Counter/handlers").json()["handlers"]]
    assert sorted(names) == ["add", "get", "reset"]
    assert "ty" not in httpx.get(f"{admin}/services/Proxy").json()["handlers"][0]

    # Durations in friendly or ISO-8601 form; an empty patch returns the current metadata.
    patched = httpx.patch(
        f"{admin}/services/Counter",
        json={
            "idempotency_retention": "PT1H",
            "journal_retention": "2d",
            "inactivity_timeout": "90s",
            "abort_timeout": "1m 30s",
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["idempotency_retention"], body["journal_retention"]) == ("1h", "2d")
    # A request-response deployment applies no inactivity timeout: restate shows 0s, and why.
    assert (body["inactivity_timeout"], body["abort_timeout"]) == ("0s", "1m 30s")
    assert body["info"] == [
        {
            "code": "RT0021",
            "message": "The configured inactivity_timeout 1m 30s will not be applied because "
            "the service is exposed in Request/Response mode.",
        }
    ]
    assert httpx.patch(f"{admin}/v4/services/Counter", json={}).json() == body
    assert httpx.get(f"{admin}/services/Counter").json() == body
    too_long = httpx.patch(f"{admin}/services/Counter", json={"journal_retention": "1y"})
    assert too_long.status_code == 422
    assert "journal_retention: please use units of days or smaller" in too_long.text
    _admin_error(
        httpx.patch(f"{admin}/services/Counter", json={"retry_policy": {}}), 400, "unknown field"
    )
    _admin_error(
        httpx.patch(f"{admin}/services/Counter", json={"workflow_completion_retention": "1d"}),
        400,
        "modifying retention time for service type VirtualObject is unsupported",
    )
    _admin_error(httpx.patch(f"{admin}/services/Nope", json={}), 404, "not found")
    _admin_error(httpx.get(f"{admin}/services/Counter/handlers/nope"), 404, "does not exist")


def test_service_openapi(registered) -> None:
    spec = httpx.get(f"{registered.admin}/services/Counter/openapi").json()
    assert spec["openapi"] == "3.1.0"
    add = spec["paths"]["/restate/call/Counter/{key}/add"]["post"]
    assert add["requestBody"]["content"]["application/json"]["schema"]["type"] == "integer"
    assert "200" in add["responses"]
    assert "/restate/send/Counter/{key}/add" in spec["paths"]
    assert (
        "/restate/call/Proxy/call"
        in httpx.get(f"{registered.admin}/services/Proxy/openapi").json()["paths"]
    )


def test_state_replacement(registered) -> None:
    admin = registered.admin
    with httpx.Client(base_url=registered.ingress, timeout=30) as ingress:
        assert ingress.post("/Counter/st/add", json=5).status_code == 200
        replaced = httpx.post(
            f"{admin}/services/Counter/state",
            json={"object_key": "st", "new_state": {"counter": list(b"41"), "extra": [1, 2]}},
        )
        assert replaced.status_code == 202, replaced.text
        assert ingress.get("/Counter/st/get").json() == 41
        assert ingress.post("/Counter/st/add", json=1).json() == {"oldValue": 41, "newValue": 42}
    rows = _query(
        admin, "SELECT key, value_utf8, value FROM state WHERE service_key = 'st' ORDER BY key"
    )
    assert rows == [
        {"key": "counter", "value_utf8": "42", "value": b"42".hex()},
        {"key": "extra", "value_utf8": "\x01\x02", "value": "0102"},
    ]
    # An empty new_state clears the key.
    assert (
        httpx.post(
            f"{admin}/services/Counter/state", json={"object_key": "st", "new_state": {}}
        ).status_code
        == 202
    )
    assert _query(admin, "SELECT key FROM state WHERE service_key = 'st'") == []
    bad = {"object_key": "st", "new_state": {"counter": [256]}}
    _admin_error(httpx.post(f"{admin}/services/Counter/state", json=bad), 400, "bytes")
    plain = {"object_key": "k", "new_state": {}}
    _admin_error(
        httpx.post(f"{admin}/services/Proxy/state", json=plain),
        400,
        "Cannot modify state for service type Service",
    )
    _admin_error(httpx.post(f"{admin}/services/Nope/state", json=plain), 404, "does not exist")


def test_query_system_tables(registered, poll: Poll) -> None:
    admin = registered.admin
    with httpx.Client(base_url=registered.ingress, timeout=30) as ingress:
        ok = ingress.post("/Counter/q/add", json=1)
        failed = ingress.post("/Steps/terminal", json="boom")
    ok_id, failed_id = ok.headers["x-restate-id"], failed.headers["x-restate-id"]
    rows = _query(admin, f"SELECT * FROM sys_invocation WHERE id = '{ok_id}'")
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "completed" and row["completion_result"] == "success"
    assert row["target"] == "Counter/q/add" and row["target_service_ty"] == "virtual_object"
    assert row["target_service_name"] == "Counter" and row["target_handler_name"] == "add"
    assert row["invoked_by"] == "ingress" and str(row["pinned_deployment_id"]).startswith("dp_")
    assert "completion_failure" not in row  # null columns are omitted
    assert str(row["created_at"]).endswith("Z")
    failure = _query(
        admin,
        "SELECT status, completion_result, completion_failure FROM sys_invocation "
        f"WHERE id = '{failed_id}'",
    )
    assert failure == [
        {"status": "completed", "completion_result": "failure", "completion_failure": "[418] boom"}
    ]
    journal = _query(
        admin, f"SELECT index, entry_type FROM sys_journal WHERE id = '{ok_id}' ORDER BY index"
    )
    assert journal[0] == {"index": 0, "entry_type": "Command: Input"}
    assert journal[-1]["entry_type"] == "Command: Output"
    services = _query(admin, "SELECT name, ty, public FROM sys_service WHERE name = 'Counter'")
    assert services == [{"name": "Counter", "ty": "virtual_object", "public": True}]
    assert len(_query(admin, "SELECT id, endpoint FROM sys_deployment")) == 1
    assert _query(admin, "SELECT count(1) AS n FROM sys_invocation")[0]["n"] == 2
    for table in ("sys_inbox", "sys_keyed_service_status", "sys_promise"):
        assert _query(admin, f"SELECT * FROM {table}") == []
    # Versioned prefix too; without `Accept: application/json` the answer is an Arrow IPC
    # stream, as restate-server's (the restate CLI sends httpx's default, `*/*`, too).
    versioned = httpx.post(
        f"{admin}/v4/query", json={"query": "SELECT 1 AS one"}, headers=ACCEPT_JSON
    )
    assert versioned.json() == {"rows": [{"one": 1}]}
    for accept in ("*/*", "application/vnd.apache.arrow.stream"):
        arrow = httpx.post(
            f"{admin}/query",
            json={"query": "SELECT count(1) AS n FROM sys_invocation"},
            headers={"accept": accept},
        )
        assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
        table = pyarrow.ipc.open_stream(arrow.content).read_all()
        assert table.schema.field("n").type == pyarrow.int64()  # restate's counts are Int64
        assert table.column("n").to_pylist() == [2]
