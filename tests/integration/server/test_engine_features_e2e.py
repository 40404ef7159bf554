"""End to end with official restate-sdk 1.2.0 services: workflows and promises, awakeables,
attach/output by id, idempotency key and workflow key, cancel, kill, purge."""

from __future__ import annotations

from collections.abc import Callable

import httpx

Poll = Callable[[Callable[[], bool], float, str], None]


def _awakeable_of(ingress: httpx.Client, key: str, poll: Poll) -> str:
    found: list[str] = []

    def published() -> bool:
        response = ingress.get(f"/Blocker/{key}/awakeable")
        value = response.json() if response.content else None  # None is an empty body
        if value:
            found.append(value)
        return bool(value)

    poll(published, 10, f"Blocker/{key} to publish its awakeable")
    return found[0]


def _status(registered, invocation_id: str) -> int:  # type: ignore[no-untyped-def]
    return httpx.get(f"{registered.ingress}/restate/invocation/{invocation_id}/output").status_code


def test_workflow_runs_once_and_promises_connect_handlers(ingress, poll: Poll) -> None:
    sent = ingress.post("/Approval/w1/run/send", json="ann")
    assert sent.status_code == 202, sent.text
    run_id = sent.json()["invocationId"]
    assert sent.json()["status"] == "Accepted"
    again = ingress.post("/Approval/w1/run/send", json="bob")
    assert again.json() == {"invocationId": run_id, "status": "PreviouslyAccepted"}
    duplicate_call = ingress.post("/Approval/w1/run", json="bob")
    assert duplicate_call.status_code == 409
    assert duplicate_call.json()["message"] == "the workflow method was already invoked"
    assert duplicate_call.headers["x-restate-error-source"] == "invocation"
    with_key = ingress.post("/Approval/w2/run", json="x", headers={"idempotency-key": "k"})
    assert with_key.status_code == 400
    output = ingress.get("/restate/workflow/Approval/w1/output")
    assert output.status_code == 470
    assert output.json()["message"] == "the invocation exists but has not completed yet"
    assert ingress.get("/restate/workflow/Approval/nope/output").status_code == 404
    assert ingress.get("/Approval/w1/peek").content == b""  # None: empty body
    assert ingress.post("/Approval/w1/approve", json="yes").json() is True
    attached = ingress.get("/restate/workflow/Approval/w1/attach")
    assert attached.status_code == 200 and attached.json() == "ann:yes"
    assert ingress.get("/restate/workflow/Approval/w1/output").json() == "ann:yes"
    assert ingress.get("/Approval/w1/peek").json() == "yes"
    # The first completion won: a second one is an error, the value is unchanged.
    second = ingress.post("/Approval/w1/approve", json="no")
    assert second.status_code == 409
    assert second.json()["message"] == "promise was already completed"
    assert ingress.get("/Approval/w1/peek").json() == "yes"
    # The new API: lookup computes the same id; output by body and by id.
    target = {"target": "workflow", "workflowName": "Approval", "workflowKey": "w1"}
    assert ingress.post("/restate/lookup", json=target).json() == {"invocationId": run_id}
    assert ingress.post("/restate/output", json=target).json() == "ann:yes"
    assert ingress.get(f"/restate/output/{run_id}").json() == "ann:yes"
    # Shared handlers of a workflow also run before any run exists.
    assert ingress.get("/Approval/w3/peek").status_code == 200


def test_awakeables_through_the_ingress(ingress, poll: Poll) -> None:
    first = ingress.post("/Blocker/a1/block/send").json()["invocationId"]
    awakeable_id = _awakeable_of(ingress, "a1", poll)
    resolved = ingress.post(
        f"/restate/awakeables/{awakeable_id}/resolve",
        content=b'"hello"',
        headers={"content-type": "application/json"},
    )
    assert resolved.status_code == 202 and resolved.content == b""
    assert ingress.get(f"/restate/invocation/{first}/attach").json() == "hello"
    # Completed: a late completion is accepted and ignored.
    late = ingress.post(f"/restate/a/{awakeable_id}/resolve", content=b'"late"')
    assert late.status_code == 202
    assert ingress.get(f"/restate/invocation/{first}/output").json() == "hello"
    second = ingress.post("/Blocker/a2/block/send").json()["invocationId"]
    awakeable_id = _awakeable_of(ingress, "a2", poll)
    rejected = ingress.post(f"/restate/a/{awakeable_id}/reject", content=b"go away")
    assert rejected.status_code == 202
    failure = ingress.get(f"/restate/invocation/{second}/attach")
    assert failure.status_code == 500 and failure.json()["message"] == "go away"
    assert ingress.post("/restate/awakeables/sign_1bad/resolve").status_code == 400
    unknown = "sign_1" + "A" * 37 + "Q"  # 28 zero-ish bytes: a well-formed id, no invocation
    # Fire and forget, as restate: accepted whether or not an invocation awaits it.
    assert ingress.post(f"/restate/awakeables/{unknown}/resolve").status_code == 202
    # A handler resolves an awakeable (CompleteAwakeable command).
    third = ingress.post("/Blocker/a3/block/send").json()["invocationId"]
    awakeable_id = _awakeable_of(ingress, "a3", poll)
    ingress.post("/Utils/resolve", json={"id": awakeable_id, "value": "from-handler"})
    assert ingress.get(f"/restate/invocation/{third}/attach").json() == "from-handler"


def test_attach_and_output_by_idempotency_key_and_from_a_handler(ingress) -> None:
    headers = {"idempotency-key": "ik/1"}
    sent = ingress.post("/Steps/sleep_for/send", json=400, headers=headers)
    invocation_id = sent.json()["invocationId"]
    # The idempotency key segment is taken verbatim (not url-decoded).
    by_key = "/restate/invocation/Steps/sleep_for/ik%2F1"
    assert ingress.get(f"{by_key}/output").status_code == 404
    assert ingress.get("/restate/invocation/Steps/sleep_for/ik/1/output").status_code != 200
    target = {
        "target": "idempotentInvocation",
        "service": "Steps",
        "handler": "sleep_for",
        "idempotencyKey": "ik/1",
    }
    assert ingress.post("/restate/lookup", json=target).json()["invocationId"] == invocation_id
    assert ingress.post("/restate/output", json=target).status_code == 470
    assert ingress.post("/restate/attach", json=target).json() == "slept 400"
    assert ingress.get(f"/restate/attach/{invocation_id}").json() == "slept 400"
    keyed = ingress.post("/Counter/ik-key/add", json=5, headers={"idempotency-key": "abc"})
    assert keyed.status_code == 200
    output = ingress.get("/restate/invocation/Counter/ik-key/add/abc/output")
    assert output.json() == {"oldValue": 0, "newValue": 5}
    # AttachInvocation from a handler.
    assert ingress.post("/Utils/attach", json=invocation_id).json() == "slept 400"
    assert ingress.get("/restate/invocation/inv_1nope/output").status_code == 400


def test_cancel_from_admin_and_from_a_handler(registered, ingress, poll: Poll) -> None:
    admin = registered.admin
    running = ingress.post("/Blocker/c1/block/send").json()["invocationId"]
    queued = ingress.post("/Blocker/c1/block/send").json()["invocationId"]
    _awakeable_of(ingress, "c1", poll)
    assert httpx.patch(f"{admin}/invocations/{queued}/cancel").status_code == 200
    # Never started: dropped, as restate does (its waiters heard 409 "canceled").
    gone = ingress.get(f"/restate/invocation/{queued}/output")
    assert gone.status_code == 404 and gone.json()["message"] == "invocation not found"
    assert httpx.patch(f"{admin}/invocations/{running}/cancel").status_code == 202
    result = ingress.get(f"/restate/invocation/{running}/attach")
    assert result.status_code == 409  # the SDK turned the CANCEL signal into a failure
    assert httpx.patch(f"{admin}/invocations/{running}/cancel").status_code == 409
    missing = "inv_1" + "0" * 33
    assert httpx.patch(f"{admin}/invocations/{missing}/cancel").status_code == 404
    assert httpx.patch(f"{admin}/invocations/nope/cancel").status_code == 400
    # From a handler: ctx.cancel_invocation sends the CANCEL signal.
    other = ingress.post("/Blocker/c2/block/send").json()["invocationId"]
    _awakeable_of(ingress, "c2", poll)
    assert ingress.post("/Utils/cancel", json=other).status_code == 200
    assert ingress.get(f"/restate/invocation/{other}/attach").status_code == 409
    # The key is free again.
    assert ingress.post("/Blocker/c1/ping").json() == "pong"


def test_kill_the_call_tree_releases_the_lock_then_purge(registered, ingress, poll: Poll) -> None:
    admin = registered.admin
    request = {"service": "Blocker", "key": "k1", "handler": "block", "body": ""}
    root = ingress.post("/Proxy/call/send", json=request).json()["invocationId"]
    _awakeable_of(ingress, "k1", poll)
    queued = ingress.post("/Blocker/k1/ping/send").json()["invocationId"]
    assert _status(registered, queued) == 470
    assert httpx.patch(f"{admin}/invocations/{root}/kill").status_code == 200
    killed = ingress.get(f"/restate/invocation/{root}/output")
    assert killed.status_code == 409 and killed.json()["message"] == "killed"
    # The called child was killed too, its lock released: the queued ping runs.
    assert ingress.get(f"/restate/invocation/{queued}/attach").json() == "pong"
    assert httpx.patch(f"{admin}/invocations/{root}/kill").status_code == 409
    # Purge: only completed invocations; afterwards the invocation is unknown.
    blocked = ingress.post("/Blocker/k2/block/send").json()["invocationId"]
    _awakeable_of(ingress, "k2", poll)
    assert httpx.patch(f"{admin}/invocations/{blocked}/purge").status_code == 409
    assert httpx.patch(f"{admin}/invocations/{root}/purge").status_code == 200
    assert _status(registered, root) == 404
    # Deprecated delete and the batch endpoint.
    assert httpx.delete(f"{admin}/invocations/{blocked}?mode=kill").status_code == 202
    batch = httpx.post(
        f"{admin}/internal/invocations_batch_operations/purge",
        json={"invocation_ids": [blocked, root]},
    ).json()
    assert batch["succeeded"] == [blocked]
    assert [f["invocation_id"] for f in batch["failed"]] == [root]


def test_pause_and_resume(registered, ingress, poll: Poll) -> None:
    admin = registered.admin
    blocked = ingress.post("/Blocker/p1/block/send").json()["invocationId"]
    awakeable_id = _awakeable_of(ingress, "p1", poll)
    assert httpx.patch(f"{admin}/invocations/{blocked}/pause").status_code == 202
    assert httpx.patch(f"{admin}/invocations/{blocked}/pause").status_code == 200
    # A completion arriving while paused is stored; resume replays it.
    ingress.post(f"/restate/awakeables/{awakeable_id}/resolve", content=b'"later"')
    assert _status(registered, blocked) == 470
    resumed = httpx.patch(f"{admin}/invocations/{blocked}/resume?deployment=latest")
    assert resumed.status_code == 200
    assert ingress.get(f"/restate/invocation/{blocked}/attach").json() == "later"
    assert httpx.patch(f"{admin}/invocations/{blocked}/resume").status_code == 409
