"""The ingress HTTP API (reference restate-surfaces §1): calls, sends, health, output.

A call or send is answered only after the processor committed the new invocation; a call
then waits for the `InvocationEnded` effect (after the result's commit) or, for a
duplicate of a completed idempotent call, reads the stored result.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from perdure.protocol.ids import (
    InvocationId,
    idempotent_request_uuid,
    partition_key_for,
    workflow_run_uuid,
)
from perdure.protocol.manifest import HandlerManifest, InputSpec
from perdure.server.commands import Command, Invoke, InvokeReply
from perdure.server.config import ServerConfig
from perdure.server.durations import DurationError, parse_duration_ms
from perdure.server.engine import NotFoundError
from perdure.server.engine.core import failure_result
from perdure.server.http import (
    BodyTooLarge,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
    lifespan_noop,
)
from perdure.server.ingress.invocations import InvocationRoutes
from perdure.server.ingress.responses import ingress_error, invocation_result
from perdure.server.schema import ServiceInfo
from perdure.server.sdk_messages import WORKFLOW_ALREADY_INVOKED
from perdure.server.waiters import ResultWaiters
from perdure.store.api import Store

logger = logging.getLogger(__name__)

_NOT_FORWARDED = {"connection", "host", "idempotency-key", "idempotency-expires"}


@dataclass(frozen=True, slots=True)
class _Call:
    info: ServiceInfo
    handler: HandlerManifest
    key: str | None
    send: bool


class IngressError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = ingress_error(status, message)


def _content_type_matches(pattern: str, content_type: str) -> bool:
    actual = content_type.split(";", 1)[0].strip().lower()
    want = pattern.split(";", 1)[0].strip().lower()
    if want in ("*/*", ""):
        return True
    if want.endswith("/*"):
        return actual.startswith(want[:-1])
    return actual == want


def _validate_input(spec: InputSpec, content_type: str | None, body: bytes) -> None:
    if not body and not content_type and not spec.required:
        return
    if spec.is_none:
        if body:
            raise IngressError(400, "input validation error: the handler takes no input")
        return
    if not body and spec.required:
        raise IngressError(400, "input validation error: Empty body not allowed")
    if spec.content_type is not None:
        if not content_type:
            raise IngressError(400, "input validation error: Empty content-type")
        if not _content_type_matches(spec.content_type, content_type):
            raise IngressError(
                400,
                f"input validation error: Content-type '{content_type}' does not match "
                f"'{spec.content_type}'",
            )


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
        request = Request.from_scope(scope, receive)
        try:
            response = await self._route(request)
        except IngressError as exc:
            response = exc.response
        except BodyTooLarge:
            response = ingress_error(413, "the request body is too large")
        except NotFoundError as exc:
            response = ingress_error(404, str(exc))
        except Exception:
            logger.exception("ingress request %s %s failed", request.method, request.path)
            response = ingress_error(
                503,
                "internal error; if the request has an 'idempotency-key', it can be safely "
                "retried, otherwise submitting it again may execute the invocation twice",
            )
        await response.send(send)

    async def _route(self, request: Request) -> Response:
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
        answered = await self._invocations.route(request, rest)
        if answered is not None:
            return answered
        raise IngressError(404, f"not found: {request.path}")

    async def _parse_call(self, segments: list[str]) -> _Call:
        name = segments[0]
        row = await self._store.read(lambda txn: txn.get_service(name))
        if row is None:
            raise IngressError(
                404,
                f"service '{name}' not found, make sure to register the service before calling it.",
            )
        info = ServiceInfo.from_row(row)
        keyed = info.manifest.ty != "SERVICE"
        rest = segments[1:]
        send = bool(rest) and rest[-1] == "send" and len(rest) == (3 if keyed else 2)
        if send:
            rest = rest[:-1]
        if len(rest) != (2 if keyed else 1):
            raise IngressError(400, f"bad path '/{'/'.join(segments)}'")
        key = None
        if keyed:
            try:
                key = urllib.parse.unquote(rest[0], errors="strict")
            except UnicodeDecodeError:
                raise IngressError(400, "cannot decode the key: invalid UTF-8") from None
        handler = info.handler(rest[-1])
        if handler is None:
            raise IngressError(
                404,
                f"the service '{name}' exists, but the handler '{rest[-1]}' was not found, "
                "check that the handler exists in the latest registered service version.",
            )
        if not row.public or handler.options.ingress_private:
            raise IngressError(400, "the invoked service is not public")
        return _Call(info, handler, key, send)

    def _invocation_id(self, call: _Call, idempotency_key: str | None) -> str:
        service = call.info.name
        if call.handler.ty == "WORKFLOW" and call.key is not None:
            return str(
                InvocationId(partition_key_for(call.key), workflow_run_uuid(service, call.key))
            )
        if idempotency_key is not None:
            uuid = idempotent_request_uuid(service, call.key, call.handler.name, idempotency_key)
            return str(InvocationId(partition_key_for(call.key or idempotency_key), uuid))
        partition_key = partition_key_for(call.key) if call.key is not None else None
        return str(InvocationId.generate(partition_key))

    async def _invoke(self, request: Request, call: _Call) -> Response:
        delay_ms = None
        if "delay" in request.query:
            if not call.send:
                raise IngressError(
                    400, "cannot use the delay query parameter with calls, only with sends"
                )
            try:
                delay_ms = parse_duration_ms(request.query["delay"])
            except DurationError:
                raise IngressError(
                    400, "bad delay query parameter, must be a ISO8601 duration"
                ) from None
        idempotency_key = request.header("idempotency-key")
        if idempotency_key is not None:
            if not idempotency_key or not all(33 <= ord(c) <= 126 for c in idempotency_key):
                raise IngressError(400, "bad idempotency-key header: must be visible ASCII")
            if call.handler.ty == "WORKFLOW":
                raise IngressError(400, "cannot use the idempotency key with workflow handlers")
        body = await request.body(self._config.message_size_limit)
        _validate_input(call.handler.input, request.header("content-type"), body)
        path = request.path + (f"?{request.raw_query}" if request.raw_query else "")
        forwarded = [(k, v) for k, v in request.headers if k not in _NOT_FORWARDED]
        headers = (("x-restate-ingress-path", path), *forwarded)
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
            return json_response(
                202,
                {"invocationId": reply.invocation_id, "status": status},
                (("x-restate-id", reply.invocation_id),),
            )
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
        return invocation_result(invocation_id, result, call.handler.output)
