"""The admin HTTP API (reference restate-surfaces §2), mounted at `/` and `/v2`-`/v4`."""

from __future__ import annotations

import json
import logging
import re
from functools import partial

from perdure.protocol.identity import RequestSigner
from perdure.protocol.manifest import HandlerManifest
from perdure.server.admin import invocations
from perdure.server.admin.deployments import RegistrationError, discover, register_txn
from perdure.server.admin.errors import AdminError
from perdure.server.clock import Clock
from perdure.server.config import ServerConfig
from perdure.server.durations import format_duration_ms
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
from perdure.server.schema import ServiceInfo
from perdure.store.api import DeploymentRow, ServiceRow, Store, WriteTxn

logger = logging.getLogger(__name__)

# The restate-server version whose admin API this one mirrors; the restate CLI reads it.
COMPATIBLE_VERSION = "1.7.12"
_VERSION_PREFIX = re.compile(r"^/v(\d+)(/.*)?$")
_BODY_LIMIT = 1024 * 1024


def admin_error(status: int, message: str, code: str | None = None) -> Response:
    return json_response(status, {"message": message, "restate_code": code})


def _handler_json(service: ServiceInfo, handler: HandlerManifest) -> dict[str, object]:
    out: dict[str, object] = {"name": handler.name}
    if handler.ty is not None:
        out["ty"] = handler.ty.capitalize()
    out["public"] = service.row.public and not handler.options.ingress_private
    spec = handler.input
    if spec.is_none:
        out["input_description"] = "none"
    else:
        out["input_description"] = spec.content_type or "*/*"
        if spec.json_schema is not None:
            out["input_json_schema"] = spec.json_schema
    out["output_description"] = handler.output.content_type or "none"
    if handler.output.json_schema is not None:
        out["output_json_schema"] = handler.output.json_schema
    if handler.options.documentation:
        out["documentation"] = handler.options.documentation
    return out


def service_json(row: ServiceRow, config: ServerConfig) -> dict[str, object]:
    info = ServiceInfo.from_row(row)
    ty = {"SERVICE": "Service", "VIRTUAL_OBJECT": "VirtualObject", "WORKFLOW": "Workflow"}
    policy = config.retry_policy
    out: dict[str, object] = {
        "name": row.name,
        "ty": ty[row.ty],
        "handlers": [_handler_json(info, h) for h in info.manifest.handlers],
        "deployment_id": row.deployment_id,
        "revision": row.revision,
        "public": row.public,
        "idempotency_retention": format_duration_ms(config.default_retention_ms),
        "journal_retention": format_duration_ms(config.default_retention_ms),
        "inactivity_timeout": format_duration_ms(config.inactivity_timeout_ms),
        "abort_timeout": format_duration_ms(config.abort_timeout_ms),
        "enable_lazy_state": bool(info.manifest.options.enable_lazy_state),
        "retry_policy": {
            "initial_interval": format_duration_ms(policy.initial_interval_ms),
            "exponentiation_factor": policy.exponentiation_factor,
            "max_attempts": policy.max_attempts,
            "max_interval": format_duration_ms(policy.max_interval_ms),
            "on_max_attempts": policy.on_max_attempts.capitalize(),
        },
    }
    if info.manifest.options.documentation:
        out["documentation"] = info.manifest.options.documentation
    if row.ty == "WORKFLOW":
        out["workflow_completion_retention"] = format_duration_ms(config.default_retention_ms)
    return out


def deployment_json(
    row: DeploymentRow, services: list[ServiceRow], config: ServerConfig, *, full: bool
) -> dict[str, object]:
    mine = [s for s in services if s.deployment_id == row.id]
    out: dict[str, object] = {
        "id": row.id,
        "uri": row.uri,
        "protocol_type": "RequestResponse"
        if row.protocol_mode == "REQUEST_RESPONSE"
        else "BidiStream",
        "http_version": "HTTP/1.1" if row.use_http_11 else "HTTP/2.0",
        "created_at": row.created_at,
        "min_protocol_version": row.min_protocol_version,
        "max_protocol_version": row.max_protocol_version,
        "services": [service_json(s, config) for s in mine]
        if full
        else [{"name": s.name, "revision": s.revision} for s in mine],
    }
    if row.additional_headers:
        out["additional_headers"] = row.additional_headers
    if row.sdk_version:
        out["sdk_version"] = row.sdk_version
    return out


class AdminApp:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        clock: Clock,
        signer: RequestSigner | None,
        submit: invocations.Submit | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._signer = signer
        # Invocation operations go through the partition processor (None: not served).
        self._submit = submit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_noop(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request.from_scope(scope, receive)
        try:
            response = await self._route(request)
        except RegistrationError as exc:
            response = admin_error(exc.status, exc.message, exc.code)
        except BodyTooLarge:
            response = admin_error(413, "the request body is too large")
        except json.JSONDecodeError as exc:
            response = admin_error(400, f"the request body is not valid JSON: {exc}")
        except Exception:
            logger.exception("admin request %s %s failed", request.method, request.path)
            response = admin_error(500, "internal error, see the server log")
        await response.send(send)

    async def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        match = _VERSION_PREFIX.match(path)
        if match:
            version = int(match.group(1))
            if not 2 <= version <= 4:
                return admin_error(
                    400,
                    f"Unsupported Admin API version V{version}. This server supports "
                    "versions between V2 and V4.",
                )
            path = match.group(2) or "/"
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
                },
            )
        if parts[:1] == ["deployments"]:
            return await self._deployments(request, parts[1:])
        if parts[:1] == ["services"]:
            return await self._services(request, parts[1:])
        if self._submit is not None:
            try:
                answered = await invocations.route(request, parts, self._submit)
            except AdminError as exc:
                return exc.response
            if answered is not None:
                return answered
        return admin_error(404, f"not found: {request.path}")

    async def _deployments(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if not rest and method == "POST":
            return await self._register(request)
        if not rest and method == "GET":
            deployments, services = await self._store.read(
                lambda txn: (txn.list_deployments(), txn.list_services())
            )
            body = [deployment_json(d, services, self._config, full=False) for d in deployments]
            return json_response(200, {"deployments": body})
        if len(rest) == 1 and method == "GET":
            deployment, services = await self._store.read(
                lambda txn: (txn.get_deployment(rest[0]), txn.list_services())
            )
            if deployment is None:
                return admin_error(404, f"deployment {rest[0]} not found")
            return json_response(
                200, deployment_json(deployment, services, self._config, full=True)
            )
        if len(rest) == 1 and method == "DELETE":
            if request.query.get("force") != "true":
                return admin_error(
                    501, "graceful deployment removal is not implemented; use force=true"
                )
            removed = await self._store.write(partial(_delete_deployment, rest[0]))
            if not removed:
                return admin_error(404, f"deployment {rest[0]} not found")
            return Response(202)
        return admin_error(405, f"method {method} not allowed")

    async def _register(self, request: Request) -> Response:
        body = await request.json(_BODY_LIMIT)
        if not isinstance(body, dict):
            return admin_error(400, "expected a JSON object with a 'uri'")
        uri = body.get("uri")
        if not isinstance(uri, str) or not uri:
            if "arn" in body:
                return admin_error(400, "Lambda deployments are not supported by perdure")
            return admin_error(400, "missing field 'uri'")
        headers = body.get("additional_headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            return admin_error(400, "additional_headers must map strings to strings")
        use_http_11 = bool(body.get("use_http_11", False))
        force = bool(body.get("force", False))
        discovered = await discover(
            uri,
            use_http_11=use_http_11,
            additional_headers=headers,
            cluster_name=self._config.cluster_name,
            signer=self._signer,
        )
        now = self._clock.now_ms()
        deployment, created = await self._store.write(
            partial(
                register_txn,
                uri=uri,
                use_http_11=use_http_11,
                additional_headers=headers,
                discovered=discovered,
                force=force,
                now=now,
            )
        )
        services = await self._store.read(lambda txn: txn.list_services())
        body_out = deployment_json(deployment, services, self._config, full=True)
        logger.info("registered deployment %s at %s", deployment.id, uri)
        return json_response(
            201 if created else 200, body_out, (("location", f"deployments/{deployment.id}"),)
        )

    async def _services(self, request: Request, rest: list[str]) -> Response:
        if request.method != "GET":
            return admin_error(405, f"method {request.method} not allowed")
        if not rest:
            services = await self._store.read(lambda txn: txn.list_services())
            return json_response(
                200, {"services": [service_json(s, self._config) for s in services]}
            )
        if len(rest) == 1:
            row = await self._store.read(lambda txn: txn.get_service(rest[0]))
            if row is None:
                return admin_error(404, f"service {rest[0]} not found")
            return json_response(200, service_json(row, self._config))
        return admin_error(404, f"not found: {request.path}")


def _delete_deployment(deployment_id: str, txn: WriteTxn) -> bool:
    """Remove a deployment and the services it serves (force: in-flight ones then fail)."""
    if txn.get_deployment(deployment_id) is None:
        return False
    for service in txn.list_services():
        if service.deployment_id == deployment_id:
            txn.delete_service(service.name)
    txn.delete_deployment(deployment_id)
    return True
