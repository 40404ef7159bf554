"""Ingress routes on existing invocations (surfaces §1.1, §1.3, §1.6): attach (wait for
the result) and output (peek, 470 while running) by id, by idempotency key or by workflow
key; lookup; and awakeable resolve/reject.

Attach registers its in-memory waiter *before* reading the store: a completion committed
after the read resolves the waiter (the `InvocationEnded` effect runs after the commit),
one committed before it is seen by the read, so none is missed.
"""

from __future__ import annotations

import json
import urllib.parse

from perdure.protocol.ids import AwakeableId, InvalidIdError, InvocationId
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    CompleteSignal,
    NotFound,
    ResultWaiters,
    Submit,
    completed_result,
    idempotent_invocation_id,
    workflow_invocation_id,
)
from perdure.server.http import Request, Response, json_response
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.responses import invocation_result
from perdure.server.ingress.routing import ServiceDirectory
from perdure.store.api import Store

NOT_READY = "the invocation exists but has not completed yet"
_OPERATIONS = ("attach", "output")


def _parse_id(text: str) -> str:
    try:
        return str(InvocationId.parse(text))
    except InvalidIdError as exc:
        raise IngressError(400, f"bad invocation id: {exc}") from None


def _decode_key(text: str) -> str:
    try:
        return urllib.parse.unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise IngressError(400, "cannot decode the key: invalid UTF-8") from None


def _method(request: Request, allowed: str) -> None:
    if request.method != allowed:
        raise IngressError(405, f"method {request.method} not allowed")


class InvocationRoutes:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        submit: Submit,
        waiters: ResultWaiters,
        services: ServiceDirectory | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._submit = submit
        self._waiters = waiters
        self._services = services or ServiceDirectory(store)

    async def route(self, request: Request, rest: list[str]) -> Response | None:
        """Answer `/restate/<rest>` if it is one of these routes, else None."""
        try:
            return await self._route(request, rest)
        except IngressError as exc:
            return exc.response

    async def _route(self, request: Request, rest: list[str]) -> Response | None:
        head, n = (rest[0] if rest else ""), len(rest)
        if head == "invocation" and n in (3, 5, 6) and rest[-1] in _OPERATIONS:
            _method(request, "GET")
            if n == 3:
                invocation_id = _parse_id(rest[1])
            elif n == 5:  # service/handler/idempotency-key; the key is taken verbatim
                invocation_id = idempotent_invocation_id(rest[1], None, rest[2], rest[3])
            else:  # object/key/handler/idempotency-key
                key = _decode_key(rest[2])
                invocation_id = idempotent_invocation_id(rest[1], key, rest[3], rest[4])
            return await self.result(invocation_id, attach=rest[-1] == "attach")
        if head == "workflow" and n == 4 and rest[3] in _OPERATIONS:
            _method(request, "GET")
            invocation_id = workflow_invocation_id(rest[1], _decode_key(rest[2]))
            return await self.result(invocation_id, attach=rest[3] == "attach")
        if head in _OPERATIONS and n == 2:
            _method(request, "GET")
            return await self.result(_parse_id(rest[1]), attach=head == "attach")
        if head in (*_OPERATIONS, "lookup") and n == 1:
            _method(request, "POST")
            invocation_id = await self._target_from_body(request)
            if head == "lookup":
                return json_response(200, {"invocationId": invocation_id})
            return await self.result(invocation_id, attach=head == "attach")
        if head in ("awakeables", "a") and n == 3 and rest[2] in ("resolve", "reject"):
            _method(request, "POST")
            return await self._complete_awakeable(request, rest[1], rest[2] == "reject")
        return None

    async def _target_from_body(self, request: Request) -> str:
        """The invocation id named by an `InvocationTargetRequest` JSON body."""
        raw = await request.body(self._config.message_size_limit)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise IngressError(400, f"bad request body: {exc}") from None
        if not isinstance(body, dict):
            raise IngressError(400, "bad request body: expected a JSON object with a 'target'")

        def text(name: str, *, optional: bool = False) -> str | None:
            value = body.get(name)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise IngressError(400, f"bad request body: '{name}' must be a string")
            return value

        if body.get("scope") is not None:
            raise IngressError(400, "scoped invocations require vqueues to be enabled")
        target = body.get("target")
        if target == "invocation":
            return _parse_id(str(text("invocationId")))
        if target == "workflow":
            return workflow_invocation_id(str(text("workflowName")), str(text("workflowKey")))
        if target == "idempotentInvocation":
            return idempotent_invocation_id(
                str(text("service")),
                text("key", optional=True),
                str(text("handler")),
                str(text("idempotencyKey")),
            )
        raise IngressError(
            400,
            "bad request body: 'target' must be 'invocation', 'workflow' or 'idempotentInvocation'",
        )

    async def result(self, invocation_id: str, *, attach: bool) -> Response:
        """The invocation's result: wait for it (attach) or 470 while it runs (output)."""
        waiter = self._waiters.register(invocation_id) if attach else None
        try:
            row = await self._store.read(lambda txn: txn.get_invocation(invocation_id))
            if row is None:
                raise IngressError(404, "invocation not found")
            result = completed_result(row)
            if result is None:
                if waiter is None:
                    raise IngressError(470, NOT_READY)
                result = (await waiter).result
        finally:
            if waiter is not None:
                self._waiters.discard(invocation_id, waiter)
        service = await self._services.get(row.service)
        handler = service.handler(row.handler) if service else None
        return invocation_result(invocation_id, result, handler.output if handler else None)

    async def _complete_awakeable(self, request: Request, text: str, reject: bool) -> Response:
        try:
            awakeable = AwakeableId.parse(text)
        except InvalidIdError as exc:
            raise IngressError(400, f"bad awakeable id: {exc}") from None
        body = await request.body(self._config.message_size_limit)
        invocation_id = str(awakeable.invocation_id)
        if reject:
            # Restate rejects with code 500 and the body (lossy UTF-8) as the message.
            command = CompleteSignal(
                invocation_id,
                awakeable.signal_index,
                failure=(500, body.decode("utf-8", errors="replace")),
            )
        else:
            command = CompleteSignal(invocation_id, awakeable.signal_index, value=body)
        try:
            await self._submit(command)
        except NotFound as exc:
            raise IngressError(404, exc.message) from None
        return Response(202)
