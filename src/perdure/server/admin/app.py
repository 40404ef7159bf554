"""The admin HTTP API (reference restate-surfaces §2), mounted at `/` and `/v2`-`/v4`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

from perdure import __version__
from perdure.protocol.identity import RequestSigner
from perdure.server.admin import invocations, limits, schedules, subscriptions
from perdure.server.admin.deployment_routes import DeploymentRoutes
from perdure.server.admin.errors import AdminError, admin_error, plain_error
from perdure.server.admin.openapi import ADMIN_OPENAPI
from perdure.server.admin.query import handle_query
from perdure.server.admin.services import ServiceRoutes
from perdure.server.admin.state import handle_state
from perdure.server.auth import ADMIN_COOKIE, BearerAuth
from perdure.server.clock import Clock
from perdure.server.config import ServerConfig
from perdure.server.console import Console
from perdure.server.engine import Submit, SyncCodeLimits, SyncCodeSchedules, Unsupported
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
from perdure.server.observe.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from perdure.server.query import QueryEngine
from perdure.store.api import Store, StoreError

logger = logging.getLogger(__name__)

# The restate-server version whose admin API this one mirrors; the restate CLI reads it.
COMPATIBLE_VERSION = "1.7.12"
# The experimental features restate-server 1.7.12 lists in `/version`; none is on here (Restate's
# UI reads them to choose tables and columns, reference tools §2b).
RESTATE_FEATURES = (
    "vqueues_migration_skip_completed",
    "unique_random_seeds",
    "scoped_state_table_migration",
    "vqueues_async_refill",
    "vqueues",
    "invoker_yield",
    "scoped_promise_table_migration",
    "kafka_scope",
    "protocol_v7",
    "preflight_invocation_termination_retention",
    "scoped_virtual_objects",
    "vqueue_obsolete_cleanup",
)
_VERSION_PREFIX = re.compile(r"^/v(\d+)(/.*)?$")


class AdminApp:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        clock: Clock,
        signer: RequestSigner | None,
        submit: Submit,
        *,
        metrics: Callable[[], Awaitable[bytes]] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._signer = signer
        # State and invocation operations go through the partition processor.
        self._submit = submit
        self._deployment_routes = DeploymentRoutes(config, store, clock, signer)
        self._service_routes = ServiceRoutes(config, store)
        self._console = Console(config)
        self._query_engine = QueryEngine(store)
        self._metrics = metrics
        self._auth = BearerAuth(config.admin_token, cookie=ADMIN_COOKIE, open_paths=("/health",))

    def _refusal(self, request: Request) -> Response | None:
        # The console's pages and scripts hold no data: they load without the token and
        # then ask for it; its API (the invoke proxy) and every admin route need it.
        path = request.path
        if path in ("/", "/ui") or (path.startswith("/ui/") and not path.startswith("/ui/api/")):
            return None
        return self._auth.refusal(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_noop(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        tracked = TrackedReceive(receive)
        request = Request.from_scope(scope, tracked)
        try:
            response = self._refusal(request) or await self._route(request)
        except AdminError as exc:
            response = exc.response
        except BodyTooLarge:
            response = admin_error(413, "the request body is too large")
        except json.JSONDecodeError as exc:
            response = admin_error(400, f"the request body is not valid JSON: {exc}")
        except StoreError as exc:
            response = admin_error(503, f"{exc}; nothing was changed: retry later")
        except Exception:
            logger.exception("admin request %s %s failed", request.method, request.path)
            response = admin_error(500, "internal error, see the server log")
        # An oversized body is not read any further (not even to discard it): close instead.
        response = await settle_body(tracked, response, close=response.status == 413)
        await response.send(send)

    async def _route(self, request: Request) -> Response:
        if Console.serves(request):
            return await self._console.handle(request)
        path = request.path.rstrip("/") or "/"
        match = _VERSION_PREFIX.match(path)
        if match:
            version = int(match.group(1))
            if not 2 <= version <= 4:
                return plain_error(
                    400,
                    f"Unsupported Admin API version V{version}. This server supports "
                    "versions between V2 and V4.",
                )
            path = match.group(2) or "/"
        api_version = int(match.group(1)) if match else None
        parts = [p for p in path.split("/") if p]
        method = request.method
        if parts == ["health"] and method == "GET":
            return Response(200)
        if parts == ["version"] and method == "GET":
            return json_response(
                200,
                {
                    "version": COMPATIBLE_VERSION,
                    "min_admin_api_version": 2,
                    "max_admin_api_version": 4,
                    "ingress_endpoint": f"http://{self._config.host}:{self._config.ingress_port}/",
                    "features": dict.fromkeys(RESTATE_FEATURES, False),
                    "perdure_version": __version__,
                },
            )
        if parts == ["metrics"] and method == "GET" and self._metrics is not None:
            text = await self._metrics()
            return Response(200, text, (("content-type", METRICS_CONTENT_TYPE),))
        if parts == ["openapi"] and method == "GET":
            return json_response(200, ADMIN_OPENAPI)
        if parts[:1] == ["deployments"]:
            answer = await self._deployment_routes.handle(request, parts[1:], api_version)
            if method != "GET" and answer.status < 300:
                # Schedules declared in code came or went with the deployment's manifest.
                try:
                    await self._submit(SyncCodeSchedules())
                    await self._submit(SyncCodeLimits())
                except Unsupported as exc:
                    logger.warning("code schedules and limits not applied: %s", exc)
            return answer
        if parts[:1] == ["subscriptions"]:
            return await subscriptions.route(
                request, parts[1:], self._store, self._submit, self._config.kafka_clusters
            )
        if parts[:1] == ["limits"]:
            return await limits.route(request, parts[1:], self._store, self._submit)
        if parts[:1] == ["schedules"]:
            return await schedules.route(request, parts[1:], self._store, self._submit)
        if len(parts) == 3 and parts[0] == "services" and parts[2] == "state":
            return await handle_state(self._submit, request, parts[1])
        if parts[:1] == ["services"]:
            return await self._service_routes.handle(request, parts[1:])
        if parts == ["query"]:
            return await handle_query(self._query_engine, request)
        try:
            answered = await invocations.route(request, parts, self._submit)
        except AdminError as exc:
            return exc.response
        if answered is not None:
            return answered
        return Response(404)  # restate's router: no body
