"""Admin invocation routes (surfaces §2.3): cancel, kill, purge, pause, resume, the
deprecated `DELETE /invocations/{id}?mode=`, and the UI's batch operations.

Every route is one `InvocationControl` command; its reply (status code, message) comes
back only after the transaction that applied it committed.
"""

from __future__ import annotations

import json
from typing import cast

from perdure.protocol.ids import InvalidIdError, InvocationId
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
    try:
        return str(InvocationId.parse(text))
    except InvalidIdError as exc:
        raise AdminError(400, f"bad invocation id: {exc}") from None


async def _control(
    submit: Submit, operation: str, invocation_id: str, deployment: str | None = None
) -> Response:
    """The operation's answer: 200 when done, 202 when the invocation acts on it later,
    else the engine's refusal."""
    command = InvocationControl(cast(ControlOperation, operation), invocation_id, deployment)
    try:
        result = await submit(command)
    except EngineError as exc:
        return admin_error(engine_status(exc), exc.message)
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
        answer = await _control(submit, operation, invocation_id)
        if answer.status >= 400:
            failed.append({"invocation_id": text, "error": _message(answer)})
        else:
            succeeded.append(text)
    return json_response(200, {"succeeded": succeeded, "failed": failed})
