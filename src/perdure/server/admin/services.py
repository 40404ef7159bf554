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

from perdure.protocol.manifest import HandlerManifest, InputSpec, OutputSpec
from perdure.server.admin.errors import AdminError, json_object
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


def _schema_title(schema: object) -> str:
    if isinstance(schema, dict):
        title = schema.get("title")
        if isinstance(title, str) and title:
            return f"JSON '{title}'"
        ty = schema.get("type")
        if isinstance(ty, str):
            return f"JSON {ty}"
    return "JSON value"


def input_description(spec: InputSpec) -> str:
    """restate's rendering of the input rules: each accepted shape, `one of` for several."""
    rules: list[str] = []
    if not spec.required:
        rules.append("none")
    if spec.content_type is not None:
        if spec.json_schema is not None:
            rules.append(_schema_title(spec.json_schema))
        else:
            rules.append(f"value of content-type '{spec.content_type}'")
    if len(rules) == 1:
        return rules[0]
    return "one of [" + ", ".join(f'"{r}"' for r in rules) + "]"


def output_description(spec: OutputSpec) -> str:
    if spec.content_type is None:
        return "none"
    if spec.json_schema is not None:
        return _schema_title(spec.json_schema)
    return f"value with content-type '{spec.content_type}'"


def _retry_policy_json(info: ServiceInfo, handler: str | None, config: ServerConfig) -> object:
    policy = info.retry_policy(handler or "", config.retry_policy)
    return {
        "initial_interval": format_duration_ms(policy.initial_interval_ms),
        "exponentiation_factor": policy.exponentiation_factor,
        "max_attempts": policy.max_attempts,
        "max_interval": format_duration_ms(policy.max_interval_ms),
        "on_max_attempts": policy.on_max_attempts.capitalize(),
    }


def handler_json(
    info: ServiceInfo, handler: HandlerManifest, config: ServerConfig
) -> dict[str, object]:
    out: dict[str, object] = {"name": handler.name}
    if handler.ty is not None and info.manifest.ty != "SERVICE":
        out["ty"] = _HANDLER_TY.get(handler.ty, handler.ty.capitalize())
    out["public"] = info.row.public and not handler.options.ingress_private
    out["input_description"] = input_description(handler.input)
    out["output_description"] = output_description(handler.output)
    if handler.input.json_schema is not None:
        out["input_json_schema"] = handler.input.json_schema
    if handler.output.json_schema is not None:
        out["output_json_schema"] = handler.output.json_schema
    options = handler.options
    if options.documentation:
        out["documentation"] = options.documentation
    if options.metadata:
        out["metadata"] = options.metadata
    for field, value in (
        ("idempotency_retention", options.idempotency_retention_ms),
        ("journal_retention", options.journal_retention_ms),
        ("workflow_completion_retention", options.workflow_completion_retention_ms),
        ("inactivity_timeout", options.inactivity_timeout_ms),
        ("abort_timeout", options.abort_timeout_ms),
    ):
        if value is not None:
            out[field] = format_duration_ms(value)
    if options.enable_lazy_state is not None:
        out["enable_lazy_state"] = options.enable_lazy_state
    if not options.retry_policy.is_empty:
        out["retry_policy"] = _retry_policy_json(info, handler.name, config)
    return out


def service_json(row: ServiceRow, config: ServerConfig) -> dict[str, object]:
    """ServiceMetadata (reference surfaces §2.3), durations in compact friendly form."""
    info = ServiceInfo.from_row(row)
    options = info.manifest.options
    default = config.default_retention_ms

    def duration(value: int | None, fallback: int) -> str:
        return format_duration_ms(fallback if value is None else value)

    out: dict[str, object] = {
        "name": row.name,
        "ty": _SERVICE_TY[row.ty],
        "handlers": [handler_json(info, h, config) for h in info.manifest.handlers],
        "deployment_id": row.deployment_id,
        "revision": row.revision,
        "public": row.public,
        "idempotency_retention": duration(options.idempotency_retention_ms, default),
        "journal_retention": duration(options.journal_retention_ms, default),
        "inactivity_timeout": duration(options.inactivity_timeout_ms, config.inactivity_timeout_ms),
        "abort_timeout": duration(options.abort_timeout_ms, config.abort_timeout_ms),
        "enable_lazy_state": bool(options.enable_lazy_state),
        "retry_policy": _retry_policy_json(info, None, config),
    }
    if row.ty == "WORKFLOW":
        workflow = next((h for h in info.manifest.handlers if h.ty == "WORKFLOW"), None)
        value = options.workflow_completion_retention_ms
        if workflow is not None and workflow.options.workflow_completion_retention_ms is not None:
            value = workflow.options.workflow_completion_retention_ms
        out["workflow_completion_retention"] = duration(value, default)
    else:
        out["workflow_completion_retention"] = None
    if options.documentation:
        out["documentation"] = options.documentation
    if options.metadata:
        out["metadata"] = options.metadata
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


def parse_service_patch(body: dict[str, object], service_ty: str) -> dict[str, object]:
    """Validate `PATCH /services/{svc}`; durations become ms. Nulls mean "unchanged"."""
    patch: dict[str, object] = {}
    for field, value in body.items():
        if value is None:
            continue
        if field == "public":
            if not isinstance(value, bool):
                raise AdminError(400, "'public' must be true or false")
            patch[field] = value
        elif field in _PATCHABLE_DURATIONS:
            if field == "workflow_completion_retention" and service_ty != "WORKFLOW":
                raise AdminError(
                    400, "workflow_completion_retention can only be set on a workflow service"
                )
            if not isinstance(value, str):
                raise AdminError(400, f"'{field}' must be a duration string such as '1d' or 'PT1H'")
            try:
                patch[field] = parse_duration_ms(value)
            except DurationError as exc:
                raise AdminError(400, f"'{field}': {exc}") from None
        else:
            raise AdminError(
                400,
                f"unknown field '{field}'; patchable fields are public, "
                + ", ".join(sorted(_PATCHABLE_DURATIONS)),
            )
    return patch


def _apply_patch(name: str, body: dict[str, object], txn: WriteTxn) -> ServiceRow:
    row = txn.get_service(name)
    if row is None:
        raise AdminError(404, f"service '{name}' not found")
    patch = parse_service_patch(body, row.ty)
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
            raise AdminError(404, f"service '{name}' not found")
        return row

    async def handle(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if not rest:
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed on /services")
            services = await self._store.read(lambda txn: txn.list_services())
            return json_response(
                200, {"services": [service_json(s, self._config) for s in services]}
            )
        name = rest[0]
        if len(rest) == 1:
            if method == "GET":
                return json_response(200, service_json(await self._row(name), self._config))
            if method == "PATCH":
                body = await json_object(request)
                row = await self._store.write(partial(_apply_patch, name, body))
                return json_response(200, service_json(row, self._config))
            raise AdminError(405, f"method {method} not allowed on /services/{name}")
        if rest[1] == "handlers" and len(rest) in (2, 3):
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed")
            info = ServiceInfo.from_row(await self._row(name))
            if len(rest) == 2:
                handlers = [handler_json(info, h, self._config) for h in info.manifest.handlers]
                return json_response(200, {"handlers": handlers})
            handler = info.handler(rest[2])
            if handler is None:
                raise AdminError(404, f"handler '{name}/{rest[2]}' not found")
            return json_response(200, handler_json(info, handler, self._config))
        if rest[1:] == ["openapi"]:
            if method != "GET":
                raise AdminError(405, f"method {method} not allowed")
            info = ServiceInfo.from_row(await self._row(name))
            return json_response(200, service_openapi(info))
        raise AdminError(404, f"not found: {request.path}")
