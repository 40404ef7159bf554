"""The ingress HTTP API (reference restate-surfaces §1): calls, sends, health, output.

A call or send is answered only after the processor committed the new invocation; a call
then waits for the `InvocationEnded` effect (after the result's commit) or, for a
duplicate of a completed idempotent call, reads the stored result.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from perdure.protocol.ids import InvocationId, partition_key_for
from perdure.server.commands import Command, Invoke, InvokeReply
from perdure.server.config import ServerConfig
from perdure.server.engine import NotFoundError
from perdure.server.engine.core import failure_result
from perdure.server.http import (
    BodyTooLarge,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    TrackedReceive,
    json_response,
    lifespan_noop,
    settle_body,
)
from perdure.server.ingress.delay import parse_delay
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.invocations import InvocationRoutes
from perdure.server.ingress.responses import ingress_error, invocation_result, rfc3339
from perdure.server.ingress.routing import (
    CallTarget,
    check_headers,
    check_path,
    forwarded_headers,
    lookup_service,
    new_api_target,
    target_of,
)
from perdure.server.ingress.validation import validate_input
from perdure.server.invocation_ids import idempotent_invocation_id, workflow_invocation_id
from perdure.server.sdk_messages import WORKFLOW_ALREADY_INVOKED
from perdure.server.waiters import ResultWaiters
from perdure.store.api import Store

logger = logging.getLogger(__name__)


class IngressApp:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        submit: Callable[[Command], Awaitable[object]],
        waiters: ResultWaiters,
    ) -> None:
        self._config = config
        self._store = store
        self._submit = submit
        self._waiters = waiters
        self._invocations = InvocationRoutes(config, store, submit, waiters)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_noop(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        tracked = TrackedReceive(receive)
        request = Request.from_scope(scope, tracked)
        too_large = False
        try:
            response = await self._route(request)
        except IngressError as exc:
            response = exc.response
        except BodyTooLarge:
            too_large = True
            response = ingress_error(
                413, f"the request body is larger than {self._config.message_size_limit} bytes"
            )
        except NotFoundError as exc:
            response = ingress_error(404, str(exc))
        except Exception:
            logger.exception("ingress request %s %s failed", request.method, request.path)
            response = ingress_error(
                503,
                "internal error; if the request has an 'idempotency-key', it can be safely "
                "retried, otherwise submitting it again may execute the invocation twice",
            )
        # An oversized body is not read any further: the connection is closed instead.
        response = await settle_body(tracked, response, close=too_large)
        await response.send(send)

    async def _route(self, request: Request) -> Response:
        check_path(request.path)
        segments = request.path.strip("/").split("/") if request.path.strip("/") else []
        if not segments:
            raise IngressError(400, f"bad path '{request.path}'")
        if segments[0] == "restate":
            return await self._restate_route(request, segments[1:])
        call = await self._parse_call(segments)
        if request.method not in ("GET", "POST"):
            raise IngressError(405, f"method {request.method} not allowed")
        return await self._invoke(request, call)

    async def _restate_route(self, request: Request, rest: list[str]) -> Response:
        if rest == ["health"]:
            services = await self._store.read(lambda txn: txn.list_services())
            return json_response(200, {"services": [s.name for s in services]})
        if rest[:1] in (["call"], ["send"], ["scope"]):
            return await self._invoke(request, await new_api_target(self._store, request, rest))
        answered = await self._invocations.route(request, rest)
        if answered is not None:
            return answered
        raise IngressError(404, f"not found: {request.path}")

    async def _parse_call(self, segments: list[str]) -> CallTarget:
        info = await lookup_service(self._store, segments[0])
        rest = segments[1:]
        keyed = info.manifest.ty != "SERVICE"
        send = bool(rest) and rest[-1] == "send" and len(rest) == (3 if keyed else 2)
        if send:
            rest = rest[:-1]
        return target_of(info, rest, send=send, path="/" + "/".join(segments))

    def _invocation_id(self, call: CallTarget, idempotency_key: str | None) -> str:
        # Deterministic ids come from the same functions the engine and attach use, so an
        # ingress call, a handler's call and an attach by key all name one invocation.
        if call.handler.ty == "WORKFLOW" and call.key is not None:
            return workflow_invocation_id(call.info.name, call.key)
        if idempotency_key is not None:
            return idempotent_invocation_id(
                call.info.name, call.key, call.handler.name, idempotency_key
            )
        partition_key = partition_key_for(call.key) if call.key is not None else None
        return str(InvocationId.generate(partition_key))

    async def _invoke(self, request: Request, call: CallTarget) -> Response:
        delay_ms = parse_delay(request.query, send=call.send)
        idempotency_key = check_headers(request)
        if idempotency_key is not None and call.handler.ty == "WORKFLOW":
            raise IngressError(400, "cannot use the idempotency key with workflow handlers")
        body = await request.body(self._config.message_size_limit)
        validate_input(call.handler.input, request.header("content-type"), body)
        headers = forwarded_headers(request)
        invocation_id = self._invocation_id(call, idempotency_key)
        command = Invoke(
            invocation_id,
            call.info.name,
            call.handler.name,
            call.key,
            headers,
            body,
            idempotency_key=idempotency_key,
            delay_ms=delay_ms,
        )
        if call.send:
            reply = await self._submit(command)
            assert isinstance(reply, InvokeReply)
            status = "Accepted" if reply.created else "PreviouslyAccepted"
            accepted: dict[str, object] = {"invocationId": reply.invocation_id}
            if delay_ms:
                row = await self._store.read(lambda txn: txn.get_invocation(invocation_id))
                if row is not None and row.execution_time is not None:
                    accepted["executionTime"] = rfc3339(row.execution_time)
            accepted["status"] = status
            return json_response(202, accepted, (("x-restate-id", reply.invocation_id),))
        waiter = self._waiters.register(invocation_id)
        try:
            reply = await self._submit(command)
            assert isinstance(reply, InvokeReply)
            if not reply.created and call.handler.ty == "WORKFLOW":
                # Run once per key: a second call is an invocation error, not an attach.
                return invocation_result(
                    invocation_id, failure_result(409, WORKFLOW_ALREADY_INVOKED), None
                )
            result = reply.result if reply.result is not None else await waiter
        finally:
            self._waiters.discard(invocation_id, waiter)
        response = invocation_result(invocation_id, result, call.handler.output)
        # A retained result can be fetched again until it expires: tell the caller when.
        row = await self._store.read(lambda txn: txn.get_invocation(invocation_id))
        if row is not None and row.completed_at is not None and row.completion_retention_ms > 0:
            expires = rfc3339(row.completed_at + row.completion_retention_ms)
            response = replace(
                response, headers=(*response.headers, ("idempotency-expires", expires))
            )
        return response
