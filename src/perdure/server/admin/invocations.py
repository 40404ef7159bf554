"""Admin invocation routes (surfaces §2.3): cancel, kill, purge, pause, resume, the
deprecated `DELETE /invocations/{id}?mode=`, and the UI's batch operations.

Every route is one `InvocationControl` command; its reply (status code, message) comes
back only after the transaction that applied it committed. Refusals are worded as
restate-server 1.7 words them, which differs between a single operation and the same
refusal inside a batch's `failed` list.
"""

from __future__ import annotations

import json
from typing import cast

from perdure.protocol.ids import InvalidIdError, InvocationId, id_decode_problem
from perdure.server.admin.errors import AdminError, admin_error, engine_status, json_object
from perdure.server.engine import (
    CONTROL_OPERATIONS,
    ControlOperation,
    ControlResult,
    EngineError,
    InvocationControl,
    Submit,
)
from perdure.server.http import Request, Response, json_response

_BATCH_LIMIT = 1000


def _invocation_id(text: str) -> str:
    problem = id_decode_problem(text, "inv")
    try:
        if problem is None:
            return str(InvocationId.parse(text))
    except InvalidIdError:
        problem = "base62 decode error"
    raise AdminError(400, f"The request field 'invocation_id' is invalid. Reason: {problem}")


# (operation or "*", refusal reason) -> (single message, batch message); {id} is the id.
_REFUSALS: dict[tuple[str, str], tuple[str, str]] = {
    ("*", "invocation"): (
        "The requested invocation '{id}' does not exist",
        "Invocation '{id}' not found",
    ),
    ("*", "completed"): (
        "The invocation '{id}' was already completed.",
        "Invocation '{id}' was already completed",
    ),
    ("resume", "completed"): (
        "The invocation '{id}' is completed, cannot be resumed.",
        "Invocation '{id}' is completed, cannot be resumed",
    ),
    ("resume", "not_started"): (
        "The invocation '{id}' is either inboxed or scheduled, cannot be resumed.",
        "Invocation '{id}' is either inboxed or scheduled, cannot be resumed",
    ),
    ("resume", "deployment_not_found"): (
        "The given deployment was not found when trying to resume the invocation '{id}'.",
        "Deployment not found when resuming invocation '{id}'",
    ),
    ("resume", "cannot_change_deployment"): (
        "The invocation '{id}' is still running or the deployment id is not pinned yet, "
        "deployment id cannot be changed.",
        "Cannot change deployment ID for invocation '{id}'",
    ),
    ("purge", "not_completed"): (
        "The invocation '{id}' is not yet completed.",
        "Invocation '{id}' is not yet completed",
    ),
    ("pause", "not_running"): (
        "The invocation '{id}' is not running, cannot be paused.",
        "Invocation '{id}' is not running, cannot be paused",
    ),
}


def refusal_messages(operation: str, invocation_id: str, error: EngineError) -> tuple[str, str]:
    """restate's words for the refusal, alone and in a batch (else the engine's)."""
    found = _REFUSALS.get((operation, error.reason)) or _REFUSALS.get(("*", error.reason))
    if found is None:
        return error.message, error.message
    single, batch = found
    return single.format(id=invocation_id), batch.format(id=invocation_id)


async def _control(
    submit: Submit,
    operation: str,
    invocation_id: str,
    deployment: str | None = None,
    *,
    batch: bool = False,
) -> Response:
    """The operation's answer: 200 when done, 202 when the invocation acts on it later,
    else the engine's refusal."""
    command = InvocationControl(cast(ControlOperation, operation), invocation_id, deployment)
    try:
        result = await submit(command)
    except EngineError as exc:
        single, in_batch = refusal_messages(operation, invocation_id, exc)
        return admin_error(engine_status(exc), in_batch if batch else single)
    return Response(202 if result is ControlResult.ACCEPTED else 200)


def _message(response: Response) -> str:
    return str(json.loads(response.body)["message"])


async def route(request: Request, parts: list[str], submit: Submit) -> Response | None:
    """Answer `/invocations/…` and `/internal/invocations_batch_operations/…`, else None."""
    method = request.method
    if parts[:1] == ["invocations"] and len(parts) == 3 and parts[2] in CONTROL_OPERATIONS:
        if method != "PATCH":
            return admin_error(405, f"method {method} not allowed")
        invocation_id = _invocation_id(parts[1])
        deployment = request.query.get("deployment") if parts[2] == "resume" else None
        return await _control(submit, parts[2], invocation_id, deployment)
    if parts[:1] == ["invocations"] and len(parts) == 2:
        if method != "DELETE":
            return admin_error(405, f"method {method} not allowed")
        mode = request.query.get("mode", "cancel")
        if mode not in ("cancel", "kill", "purge"):
            return admin_error(400, f"unknown mode {mode!r}: use cancel, kill or purge")
        answer = await _control(submit, mode, _invocation_id(parts[1]))
        # The deprecated route answers 202 for whatever was accepted.
        return Response(202) if answer.status < 400 else answer
    if parts[:2] == ["internal", "invocations_batch_operations"] and len(parts) == 3:
        if method != "POST":
            return admin_error(405, f"method {method} not allowed")
        if parts[2] not in CONTROL_OPERATIONS:
            return admin_error(404, f"unknown batch operation {parts[2]!r}")
        return await _batch(request, parts[2], submit)
    return None


async def _batch(request: Request, operation: str, submit: Submit) -> Response:
    body = await json_object(request)
    ids = body.get("invocation_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise AdminError(400, "invocation_ids must be a list of invocation ids")
    if len(ids) > _BATCH_LIMIT:
        raise AdminError(400, f"at most {_BATCH_LIMIT} invocation ids per batch")
    succeeded: list[str] = []
    failed: list[dict[str, str]] = []
    for text in ids:
        assert isinstance(text, str)
        try:
            invocation_id = _invocation_id(text)
        except AdminError as exc:
            failed.append({"invocation_id": text, "error": exc.message})
            continue
        answer = await _control(submit, operation, invocation_id, batch=True)
        if answer.status >= 400:
            failed.append({"invocation_id": text, "error": _message(answer)})
        else:
            succeeded.append(text)
    return json_response(200, {"succeeded": succeeded, "failed": failed})
