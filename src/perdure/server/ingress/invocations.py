"""Ingress routes on existing invocations (surfaces §1.1, §1.3, §1.6): attach (wait for
the result) and output (peek, 470 while running) by id, by idempotency key or by workflow
key; lookup; and awakeable resolve/reject.

Attach registers its in-memory waiter *before* reading the store: a completion committed
after the read resolves the waiter (the `InvocationEnded` effect runs after the commit),
one committed before it is seen by the read, so none is missed.
"""

from __future__ import annotations

import json
import logging

from perdure.protocol.ids import AwakeableId, InvalidIdError, InvocationId, id_decode_problem
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    CompleteSignal,
    ResultWaiters,
    Submit,
    completed_result,
    expires_at,
    idempotent_invocation_id,
    workflow_invocation_id,
)
from perdure.server.http import Request, Response, json_response
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.paths import (
    AwakeableRoute,
    ByIdRoute,
    ByTargetRoute,
    IdempotentRoute,
    Route,
    WorkflowRoute,
)
from perdure.server.ingress.responses import (
    expires_header,
    invocation_failure,
    invocation_result,
)
from perdure.server.ingress.routing import METHOD_NOT_ALLOWED, ServiceDirectory
from perdure.store.api import Store

logger = logging.getLogger(__name__)

NOT_READY = "the invocation exists but has not completed yet"
INVOCATION_NOT_FOUND = "invocation not found"


def parse_invocation_id(text: str) -> str:
    problem = id_decode_problem(text, "inv")
    if problem is not None:
        raise IngressError(400, f"bad invocation id '{text}': {problem}")
    try:
        return str(InvocationId.parse(text))
    except InvalidIdError:
        raise IngressError(400, f"bad invocation id '{text}': base62 decode error") from None


def _method(request: Request, allowed: str) -> None:
    if request.method != allowed:
        raise IngressError(405, METHOD_NOT_ALLOWED)


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

    async def route(self, request: Request, route: Route) -> Response:
        """Attach, output and lookup by id, idempotency key, workflow key or body; and
        awakeable resolve/reject. Refusals are answered, not raised."""
        try:
            return await self._route(request, route)
        except IngressError as exc:
            return exc.response

    async def _route(self, request: Request, route: Route) -> Response:
        if isinstance(route, AwakeableRoute):
            _method(request, "POST")
            return await self._complete_awakeable(request, route)
        if isinstance(route, ByTargetRoute):
            _method(request, "POST")
            invocation_id = await self._target_from_body(request)
            if route.operation == "lookup":
                return json_response(200, {"invocationId": invocation_id})
            return await self.result(invocation_id, attach=route.operation == "attach")
        if isinstance(route, ByIdRoute):
            invocation_id = parse_invocation_id(route.invocation_id)
        elif isinstance(route, IdempotentRoute):
            invocation_id = idempotent_invocation_id(
                route.service, route.key, route.handler, route.idempotency_key
            )
        elif isinstance(route, WorkflowRoute):
            invocation_id = workflow_invocation_id(route.workflow, route.key)
        else:
            raise AssertionError(f"not an invocation route: {route!r}")
        _method(request, "GET")
        return await self.result(invocation_id, attach=route.operation == "attach")

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
            return parse_invocation_id(str(text("invocationId")))
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
        """The invocation's result: wait for it (attach) or 470 while it runs (output).
        An unknown id is the invocation's own 404 for attach (restate asks the partition,
        which answers "not found"), the ingress's for output."""
        waiter = self._waiters.register(invocation_id) if attach else None
        try:
            row = await self._store.read(lambda txn: txn.get_invocation(invocation_id))
            if row is None:
                if waiter is None:
                    raise IngressError(404, INVOCATION_NOT_FOUND)
                return invocation_failure(invocation_id, 404, "not found")
            result = completed_result(row)
            expires = expires_at(row) if result is not None else None
            if result is None:
                if waiter is None:
                    raise IngressError(470, NOT_READY)
                result = (await waiter).result
        finally:
            if waiter is not None:
                self._waiters.discard(invocation_id, waiter)
        service = await self._services.get(row.service)
        handler = service.handler(row.handler) if service else None
        response = invocation_result(invocation_id, result, handler.output if handler else None)
        if expires is not None:
            headers = (*response.headers, ("idempotency-expires", expires_header(expires)))
            response = Response(response.status, response.body, headers)
        return response

    async def _complete_awakeable(self, request: Request, route: AwakeableRoute) -> Response:
        """restate tries the id as a signal (`sign_1…`) first, then as a legacy awakeable
        (`prom_1…`, protocol <= 3); a refusal quotes the second parse's reason. Either way
        the completion is fire-and-forget: 202 even if no invocation awaits it."""
        text = route.awakeable_id
        body = await request.body(self._config.message_size_limit)
        if id_decode_problem(text, "sign") is None:
            awakeable = AwakeableId.parse(text)
            invocation_id = str(awakeable.invocation_id)
            if route.reject:
                # Restate rejects with code 500 and the body (lossy UTF-8) as the message.
                command = CompleteSignal(
                    invocation_id,
                    awakeable.signal_index,
                    failure=(500, body.decode("utf-8", errors="replace")),
                )
            else:
                command = CompleteSignal(invocation_id, awakeable.signal_index, value=body)
            await self._submit(command)
            return Response(202)
        problem = id_decode_problem(text, "prom")
        if problem is not None:
            raise IngressError(400, f"bad awakeable id '{text}': {problem}")
        # Only protocol <= 3 journals have such awakeables; perdure never ran one.
        logger.info("ignoring the completion of legacy awakeable %s", text)
        return Response(202)
