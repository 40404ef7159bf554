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
from perdure.server.ingress.cors import is_preflight, preflight_response, with_cors
from perdure.server.ingress.delay import UNSUPPORTED_DELAY, parse_delay
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.invocations import InvocationRoutes
from perdure.server.ingress.paths import Health, ServiceRoute, parse_path
from perdure.server.ingress.responses import (
    execution_time,
    expires_header,
    ingress_error,
    invocation_result,
    store_unavailable,
)
from perdure.server.ingress.routing import (
    CallTarget,
    ServiceDirectory,
    check_limit_key,
    forwarded_headers,
    resolve_call,
)
from perdure.server.ingress.validation import validate_input
from perdure.store.api import Store, StoreError

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
        if is_preflight(request):
            await preflight_response(request).send(send)
            return
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
        except StoreError as exc:
            response = store_unavailable(exc)
        except Exception:
            logger.exception("ingress request %s %s failed", request.method, request.path)
            response = ingress_error(
                503,
                "internal error; if the request has an 'idempotency-key', it can be safely "
                "retried, otherwise submitting it again may execute the invocation twice",
            )
        response = with_cors(request, response)
        # An oversized body is not read any further: the connection is closed instead.
        response = await settle_body(tracked, response, close=too_large)
        await response.send(send)

    async def _route(self, request: Request) -> Response:
        route = await parse_path(request.path, self._service_type)
        if isinstance(route, Health):
            services = await self._store.read(lambda txn: txn.list_services())
            return json_response(200, {"services": [s.name for s in services]})
        if isinstance(route, ServiceRoute):
            return await self._invoke(request, await resolve_call(self._services, request, route))
        return await self._invocations.route(request, route)

    async def _service_type(self, name: str) -> str | None:
        info = await self._services.get(name)
        return None if info is None else info.row.ty

    async def _invoke(self, request: Request, call: CallTarget) -> Response:
        idempotency_key = request.header("idempotency-key")
        body = await request.body(self._config.message_size_limit)
        validate_input(call.handler.input, request.header("content-type"), body)
        delay_ms = parse_delay(request.query)
        check_limit_key(request)
        headers = forwarded_headers(request)
        if delay_ms is not None and not call.send:
            raise IngressError(400, UNSUPPORTED_DELAY)
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
            accepted: dict[str, object] = {"invocationId": reply.invocation_id}
            if reply.execution_time is not None and (delay_ms is not None or not reply.created):
                # restate prints the due time whenever a delay was given (`0` included), and
                # a duplicate of a scheduled send gets the first one's.
                accepted["executionTime"] = execution_time(reply.execution_time)
            accepted["status"] = "Accepted" if reply.created else "PreviouslyAccepted"
            return json_response(202, accepted, (("x-restate-id", reply.invocation_id),))
        waiter = self._waiters.register(invocation_id)
        try:
            reply = await self._submit(command)
            if reply.result is not None:
                ended = InvocationEnded(invocation_id, reply.result, reply.expires_at)
            else:
                # A live result: restate sends no expiry with it, only with stored ones.
                ended = replace(await waiter, expires_at=None)
        finally:
            self._waiters.discard(invocation_id, waiter)
        response = invocation_result(invocation_id, ended.result, call.handler.output)
        if ended.expires_at is not None:
            # A retained result can be fetched again until it expires: tell the caller when.
            expires = expires_header(ended.expires_at)
            response = replace(
                response, headers=(*response.headers, ("idempotency-expires", expires))
            )
        return response
