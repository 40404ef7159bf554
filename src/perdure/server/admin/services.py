"""Admin service routes: ServiceMetadata JSON, handlers, PATCH, per-service OpenAPI.

A service's stored schema is its manifest object as discovered, plus the operator's
changes: `PATCH /services/{svc}` writes the new retentions and timeouts into that object's
service-level options (and `workflowCompletionRetention` into its workflow handlers), so
every reader of the manifest (ingress, engine, invoker) sees one value. Re-registering the
deployment replaces the manifest and with it those changes, as a new revision would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial

from perdure.protocol.manifest import (
    HandlerManifest,
    InputSpec,
    OutputSpec,
    RetryPolicySpec,
    display_content_type,
)
from perdure.server.admin.errors import (
    BODY_LIMIT,
    AdminError,
    body_type_error,
    json_object,
    serde_type_name,
)
from perdure.server.admin.openapi import service_openapi
from perdure.server.config import ServerConfig
from perdure.server.durations import DurationError, format_duration_ms, parse_duration_ms
from perdure.server.engine import ServiceInfo
from perdure.server.http import Request, Response, json_response
from perdure.store.api import ServiceRow, Store, WriteTxn

_SERVICE_TY = {"SERVICE": "Service", "VIRTUAL_OBJECT": "VirtualObject", "WORKFLOW": "Workflow"}
_HANDLER_TY = {"EXCLUSIVE": "Exclusive", "SHARED": "Shared", "WORKFLOW": "Workflow"}

# PATCH field -> manifest option key (service level).
_PATCHABLE_DURATIONS = {
    "idempotency_retention": "idempotencyRetention",
    "journal_retention": "journalRetention",
    "inactivity_timeout": "inactivityTimeout",
    "abort_timeout": "abortTimeout",
    "workflow_completion_retention": "workflowCompletionRetention",
}


def _json_detail(schema: object, default: str) -> str:
    """restate's `try_display_json_detailed_info`: the schema's title, else its type
    (when a single string), else the rule's own rendering."""
    if isinstance(schema, dict):
        title = schema.get("title")
        if isinstance(title, str):
            return f"JSON '{title}'"
        ty = schema.get("type")
        if isinstance(ty, str):
            return f"JSON {ty}"
    return default


def input_description(spec: InputSpec) -> str:
    """restate's rendering of the input rules: a lone "none" beside another rule is not
    shown (restate issue 2101), so this is "none", or what the body must be."""
    rules: list[str] = []
    if not spec.required:
        rules.append("none")
    if spec.content_type is not None:
        shown = display_content_type(spec.content_type)
        rules.append(
            _json_detail(spec.json_schema, shown) if spec.json_schema is not None else shown
        )
    if not rules:
        return "<invalid rules>"
    if len(rules) == 2 and rules[0] == "none":
        return rules[1]
    if len(rules) == 1:
        return rules[0]
    return "one of [" + ", ".join(f'"{r}"' for r in rules) + "]"


def output_description(spec: OutputSpec) -> str:
    if spec.content_type is None:
        return "none"
    optional = "optional " if spec.set_content_type_if_empty else ""
    return _json_detail(spec.json_schema, optional + spec.content_type)


def _retry_policy_json(info: ServiceInfo, handler: str | None, config: ServerConfig) -> object:
    policy = info.retry_policy(handler or "", config.retry_policy)
    return {
        "initial_interval": format_duration_ms(policy.initial_interval_ms),
        "exponentiation_factor": policy.exponentiation_factor,
        "max_attempts": policy.max_attempts,
        "max_interval": format_duration_ms(policy.max_interval_ms),
        "on_max_attempts": policy.on_max_attempts.capitalize(),
    }


def _handler_retry_overrides(spec: RetryPolicySpec) -> dict[str, object]:
    """A handler's own retry policy fields, as restate lists them: only those set, and
    `max_attempts` always (null when unset)."""
    out: dict[str, object] = {}
    if spec.initial_interval_ms is not None:
        out["initial_interval"] = format_duration_ms(spec.initial_interval_ms)
    if spec.exponentiation_factor is not None:
        out["exponentiation_factor"] = spec.exponentiation_factor
    out["max_attempts"] = spec.max_attempts
    if spec.max_interval_ms is not None:
        out["max_interval"] = format_duration_ms(spec.max_interval_ms)
    if spec.on_max_attempts is not None:
        out["on_max_attempts"] = spec.on_max_attempts.capitalize()
    return out


def _inactivity_ignored(where: str, value_ms: int) -> dict[str, str]:
    return {
        "code": "RT0021",
        "message": f"The configured inactivity_timeout {format_duration_ms(value_ms)} will not "
        f"be applied because the {where} is exposed in Request/Response mode.",
    }


def handler_json(
    info: ServiceInfo,
    handler: HandlerManifest,
    config: ServerConfig,
    *,
    request_response: bool = False,
) -> dict[str, object]:
    """HandlerMetadata, field for field as restate serializes it (its key order too)."""
    out: dict[str, object] = {"name": handler.name}
    if handler.ty is not None and info.manifest.ty != "SERVICE":
        out["ty"] = _HANDLER_TY.get(handler.ty, handler.ty.capitalize())
    options = handler.options
    if options.documentation:
        out["documentation"] = options.documentation
    if options.metadata:
        out["metadata"] = options.metadata
    inactivity = None if request_response else options.inactivity_timeout_ms
    for field, value in (
        ("idempotency_retention", options.idempotency_retention_ms),
        ("journal_retention", options.journal_retention_ms),
        ("inactivity_timeout", inactivity),
        ("abort_timeout", options.abort_timeout_ms),
    ):
        if value is not None:
            out[field] = format_duration_ms(value)
    if options.enable_lazy_state is not None:
        out["enable_lazy_state"] = options.enable_lazy_state
    out["public"] = info.row.public and not options.ingress_private
    out["input_description"] = input_description(handler.input)
    out["output_description"] = output_description(handler.output)
    if handler.input.json_schema is not None:
        out["input_json_schema"] = handler.input.json_schema
    if handler.output.json_schema is not None:
        out["output_json_schema"] = handler.output.json_schema
    out["retry_policy"] = _handler_retry_overrides(options.retry_policy)
    if request_response and options.inactivity_timeout_ms is not None:
        out["info"] = [_inactivity_ignored("handler", options.inactivity_timeout_ms)]
    return out


def service_json(
    row: ServiceRow, config: ServerConfig, *, request_response: bool = False
) -> dict[str, object]:
    """ServiceMetadata (reference surfaces §2.3), durations in compact friendly form.
    `request_response`: its deployment is served in request-response mode, where no
    inactivity timeout applies (restate shows `0s`)."""
    info = ServiceInfo.from_row(row)
    options = info.manifest.options
    default = config.default_retention_ms

    def duration(value: int | None, fallback: int) -> str:
        return format_duration_ms(fallback if value is None else value)

    handlers = [
        handler_json(info, h, config, request_response=request_response)
        for h in info.manifest.handlers
    ]
    out: dict[str, object] = {"name": row.name, "handlers": handlers, "ty": _SERVICE_TY[row.ty]}
    if options.documentation:
        out["documentation"] = options.documentation
    if options.metadata:
        out["metadata"] = options.metadata
    out.update(deployment_id=row.deployment_id, revision=row.revision, public=row.public)
    out["idempotency_retention"] = duration(options.idempotency_retention_ms, default)
    if row.ty == "WORKFLOW":
        workflow = next((h for h in info.manifest.handlers if h.ty == "WORKFLOW"), None)
        value = options.workflow_completion_retention_ms
        if workflow is not None and workflow.options.workflow_completion_retention_ms is not None:
            value = workflow.options.workflow_completion_retention_ms
        out["workflow_completion_retention"] = duration(value, default)
    out["journal_retention"] = duration(options.journal_retention_ms, default)
    inactivity = duration(options.inactivity_timeout_ms, config.inactivity_timeout_ms)
    out["inactivity_timeout"] = "0s" if request_response else inactivity
    out["abort_timeout"] = duration(options.abort_timeout_ms, config.abort_timeout_ms)
    out["enable_lazy_state"] = bool(options.enable_lazy_state)
    out["retry_policy"] = _retry_policy_json(info, None, config)
    if request_response and options.inactivity_timeout_ms is not None:
        out["info"] = [_inactivity_ignored("service", options.inactivity_timeout_ms)]
    return out


def _patched_row(row: ServiceRow, patch: dict[str, object]) -> ServiceRow:
    """Apply a validated PATCH body to the stored schema."""
    manifest = json.loads(row.manifest_json)
    public = row.public
    for field, value in patch.items():
        if field == "public":
            public = bool(value)
            manifest["ingressPrivate"] = not public
            continue
        key = _PATCHABLE_DURATIONS[field]
        assert isinstance(value, int)
        if field == "workflow_completion_retention":
            for handler in manifest.get("handlers", []):
                if isinstance(handler, dict) and handler.get("ty") == "WORKFLOW":
                    handler[key] = value
        manifest[key] = value
    return replace(row, public=public, manifest_json=json.dumps(manifest))


def parse_service_patch(
    body: dict[str, object], service_ty: str, raw: bytes = b""
) -> dict[str, object]:
    """Validate `PATCH /services/{svc}`; durations become ms. Nulls mean "unchanged".
    A field of the wrong type is restate's 422 (`raw`, the body as sent, locates it)."""
    patch = check_patch_types(body, raw)
    if "workflow_completion_retention" in patch and service_ty != "WORKFLOW":
        raise AdminError(
            400,
            f"modifying retention time for service type {_SERVICE_TY[service_ty]} is unsupported",
        )
    return patch


def check_patch_types(body: dict[str, object], raw: bytes) -> dict[str, object]:
    patch: dict[str, object] = {}
    for field, value in body.items():
        if value is None:
            continue
        if field == "public":
            if not isinstance(value, bool):
                reason = f"invalid type: {serde_type_name(value)}, expected a boolean"
                raise body_type_error(raw, field, reason)
            patch[field] = value
        elif field in _PATCHABLE_DURATIONS:
            if not isinstance(value, str):
                reason = f"invalid type: {serde_type_name(value)}, expected a string"
                raise body_type_error(raw, field, reason)
            try:
                patch[field] = parse_duration_ms(value)
            except DurationError as exc:
                raise body_type_error(raw, field, str(exc)) from None
        else:
            raise AdminError(
                400,
                f"unknown field '{field}'; patchable fields are public, "
                + ", ".join(sorted(_PATCHABLE_DURATIONS)),
            )
    return patch


def _apply_patch(name: str, body: dict[str, object], raw: bytes, txn: WriteTxn) -> ServiceRow:
    row = txn.get_service(name)
    if row is None:
        raise AdminError(404, f"not found in the schema registry: service with name '{name}'")
    patch = parse_service_patch(body, row.ty, raw)
    if not patch:
        return row
    new_row = _patched_row(row, patch)
    txn.put_service(new_row)
    return new_row


class ServiceRoutes:
    """`/services…` of the admin API, except `/services/{svc}/state` (admin/state.py)."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self._config = config
        self._store = store

    async def _row(self, name: str) -> ServiceRow:
        row = await self._store.read(lambda txn: txn.get_service(name))
        if row is None:
            raise AdminError(404, f"The requested service '{name}' does not exist")
        return row

    async def _request_response(self) -> set[str]:
        """Ids of the deployments served in request-response mode."""
        deployments = await self._store.read(lambda txn: txn.list_deployments())
        return {d.id for d in deployments if d.protocol_mode == "REQUEST_RESPONSE"}

    async def _json(self, row: ServiceRow) -> dict[str, object]:
        rr = row.deployment_id in await self._request_response()
        return service_json(row, self._config, request_response=rr)

    async def handle(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if not rest:
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed on /services")
            services = await self._store.read(lambda txn: txn.list_services())
            rr_ids = await self._request_response()
            listed = [
                service_json(s, self._config, request_response=s.deployment_id in rr_ids)
                for s in services
            ]
            return json_response(200, {"services": listed})
        name = rest[0]
        if len(rest) == 1:
            if method == "GET":
                return json_response(200, await self._json(await self._row(name)))
            if method == "PATCH":
                raw = await request.body(BODY_LIMIT)
                body = await json_object(request, raw)
                check_patch_types(body, raw)  # restate refuses these before any lookup
                row = await self._store.write(partial(_apply_patch, name, body, raw))
                return json_response(200, await self._json(row))
            raise AdminError(405, f"method {method} not allowed on /services/{name}")
        if rest[1] == "handlers" and len(rest) in (2, 3):
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed")
            row = await self._row(name)
            info = ServiceInfo.from_row(row)
            rr = row.deployment_id in await self._request_response()
            if len(rest) == 2:
                handlers = [
                    handler_json(info, h, self._config, request_response=rr)
                    for h in info.manifest.handlers
                ]
                return json_response(200, {"handlers": handlers})
            handler = info.handler(rest[2])
            if handler is None:
                raise AdminError(
                    404,
                    f"The requested handler '{rest[2]}' on service '{name}' does not exist",
                )
            return json_response(
                200, handler_json(info, handler, self._config, request_response=rr)
            )
        if rest[1:] == ["openapi"]:
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed")
            info = ServiceInfo.from_row(await self._row(name))
            return json_response(200, service_openapi(info))
        raise AdminError(404, f"not found: {request.path}")
