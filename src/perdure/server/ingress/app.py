"""The ingress HTTP API (reference restate-surfaces §1): calls, sends, health, output.

A call or send is answered only after the processor committed the new invocation; a call
then waits for the `InvocationEnded` effect (after the result's commit) or, for a
duplicate of a completed idempotent call, reads the stored result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from perdure.server.auth import BearerAuth
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    InvocationEnded,
    Invoke,
    NotFound,
    ResultWaiters,
    Submit,
    Target,
    choose_invocation_id,
)
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
    ServiceDirectory,
    check_headers,
    check_path,
    forwarded_headers,
    new_api_target,
    target_of,
)
from perdure.server.ingress.validation import validate_input
from perdure.store.api import Store

logger = logging.getLogger(__name__)

IdChooser = Callable[[Target, str | None, str | None], str]


class IngressApp:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        submit: Submit,
        waiters: ResultWaiters,
        choose_id: IdChooser = choose_invocation_id,
    ) -> None:
        self._config = config
        self._store = store
        self._submit = submit
        self._waiters = waiters
        # A cluster node places calls that may go to any partition in one it leases.
        self._choose_id = choose_id
        self._auth = BearerAuth(config.ingress_token, open_paths=("/restate/health",))
        self._services = ServiceDirectory(store)
        self._invocations = InvocationRoutes(config, store, submit, waiters, self._services)

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
            response = self._auth.refusal(request) or await self._route(request)
        except IngressError as exc:
            response = exc.response
        except BodyTooLarge:
            too_large = True
            response = ingress_error(
                413, f"the request body is larger than {self._config.message_size_limit} bytes"
            )
        except NotFound as exc:
            response = ingress_error(404, exc.message)
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
            target = await new_api_target(self._services, request, rest)
            return await self._invoke(request, target)
        answered = await self._invocations.route(request, rest)
        if answered is not None:
            return answered
        raise IngressError(404, f"not found: {request.path}")

    async def _parse_call(self, segments: list[str]) -> CallTarget:
        info = await self._services.lookup(segments[0])
        rest = segments[1:]
        keyed = info.manifest.ty != "SERVICE"
        send = bool(rest) and rest[-1] == "send" and len(rest) == (3 if keyed else 2)
        if send:
            rest = rest[:-1]
        return target_of(info, rest, send=send, path="/" + "/".join(segments))

    async def _invoke(self, request: Request, call: CallTarget) -> Response:
        delay_ms = parse_delay(request.query, send=call.send)
        idempotency_key = check_headers(request)
        if idempotency_key is not None and call.handler.ty == "WORKFLOW":
            raise IngressError(400, "cannot use the idempotency key with workflow handlers")
        body = await request.body(self._config.message_size_limit)
        validate_input(call.handler.input, request.header("content-type"), body)
        headers = forwarded_headers(request)
        # The engine's rule, so an ingress call, a handler's call and an attach by key all
        # name one invocation.
        invocation_id = self._choose_id(call.info.target(call.handler), call.key, idempotency_key)
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
            status = "Accepted" if reply.created else "PreviouslyAccepted"
            accepted: dict[str, object] = {"invocationId": reply.invocation_id}
            if delay_ms and reply.execution_time is not None:
                accepted["executionTime"] = rfc3339(reply.execution_time)
            accepted["status"] = status
            return json_response(202, accepted, (("x-restate-id", reply.invocation_id),))
        waiter = self._waiters.register(invocation_id)
        try:
            reply = await self._submit(command)
            if reply.result is not None:
                ended = InvocationEnded(invocation_id, reply.result, reply.expires_at)
            else:
                ended = await waiter
        finally:
            self._waiters.discard(invocation_id, waiter)
        response = invocation_result(invocation_id, ended.result, call.handler.output)
        if ended.expires_at is not None:
            # A retained result can be fetched again until it expires: tell the caller when.
            expires = rfc3339(ended.expires_at)
            response = replace(
                response, headers=(*response.headers, ("idempotency-expires", expires))
            )
        return response
