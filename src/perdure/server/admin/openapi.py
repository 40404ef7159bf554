"""OpenAPI 3.1 documents: one per service (built from handler schemas) and the admin API's.

Deliberately small: each public handler gets `POST /restate/call/…` and
`POST /restate/send/…` (plus the unversioned `/{svc}[/{key}]/{h}` path clients use),
request and response bodies from the manifest's JSON schemas, and the ingress error body.
"""

from __future__ import annotations

from perdure.protocol.manifest import HandlerManifest
from perdure.server.engine import ServiceInfo

_ERROR_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "source": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["message"],
}
_SEND_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "invocationId": {"type": "string"},
        "status": {"type": "string", "enum": ["Accepted", "PreviouslyAccepted"]},
        "executionTime": {"type": "string", "format": "date-time"},
    },
    "required": ["invocationId", "status"],
}


def _request_body(handler: HandlerManifest) -> dict[str, object] | None:
    spec = handler.input
    if spec.is_none or spec.content_type is None:
        return None
    schema = spec.json_schema if spec.json_schema is not None else {}
    return {"required": spec.required, "content": {spec.content_type: {"schema": schema}}}


def _operation(service: str, handler: HandlerManifest, *, send: bool, keyed: bool) -> object:
    name = f"{service}-{handler.name}-{'send' if send else 'call'}"
    op: dict[str, object] = {"operationId": name, "tags": [service]}
    if handler.options.documentation:
        op["description"] = handler.options.documentation
    parameters: list[object] = []
    if keyed:
        parameters.append(
            {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    parameters.append(
        {"name": "idempotency-key", "in": "header", "required": False, "schema": {"type": "string"}}
    )
    if send:
        parameters.append(
            {"name": "delay", "in": "query", "required": False, "schema": {"type": "string"}}
        )
    op["parameters"] = parameters
    body = _request_body(handler)
    if body is not None:
        op["requestBody"] = body
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if send:
        ok: dict[str, object] = {
            "description": "Accepted",
            "content": {"application/json": {"schema": _SEND_SCHEMA}},
        }
        op["responses"] = {"202": ok, "default": error}
        return op
    output = handler.output
    ok = {"description": "Success"}
    if output.content_type is not None:
        schema = output.json_schema if output.json_schema is not None else {}
        ok["content"] = {output.content_type: {"schema": schema}}
    op["responses"] = {"200": ok, "default": error}
    return op


def service_openapi(info: ServiceInfo) -> dict[str, object]:
    service = info.name
    keyed = info.manifest.ty != "SERVICE"
    key_part = "/{key}" if keyed else ""
    paths: dict[str, object] = {}
    for handler in info.manifest.handlers:
        if not info.row.public or handler.options.ingress_private:
            continue
        for send in (False, True):
            verb = "send" if send else "call"
            path = f"/restate/{verb}/{service}{key_part}/{handler.name}"
            paths[path] = {"post": _operation(service, handler, send=send, keyed=keyed)}
    out: dict[str, object] = {
        "openapi": "3.1.0",
        "info": {"title": service, "version": str(info.row.revision)},
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR_SCHEMA}},
    }
    if info.manifest.options.documentation:
        out["info"] = {**out["info"], "description": info.manifest.options.documentation}  # type: ignore[dict-item]
    return out


def _route(summary: str, *, body: bool = False) -> dict[str, object]:
    op: dict[str, object] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return op


ADMIN_OPENAPI: dict[str, object] = {
    "openapi": "3.1.0",
    "info": {"title": "perdure admin API (restate admin API subset)", "version": "4"},
    "paths": {
        "/health": {"get": _route("Health check")},
        "/version": {"get": _route("Server version and supported admin API versions")},
        "/deployments": {
            "get": _route("List deployments"),
            "post": _route("Register a deployment", body=True),
        },
        "/deployments/{deployment}": {
            "get": _route("Get a deployment"),
            "patch": _route("Update a deployment", body=True),
            "delete": _route("Remove a deployment (force=true)"),
        },
        "/services": {"get": _route("List services")},
        "/services/{service}": {
            "get": _route("Get a service"),
            "patch": _route("Modify a service", body=True),
        },
        "/services/{service}/handlers": {"get": _route("List a service's handlers")},
        "/services/{service}/handlers/{handler}": {"get": _route("Get a handler")},
        "/services/{service}/openapi": {"get": _route("OpenAPI document of a service")},
        "/services/{service}/state": {"post": _route("Replace an object's state", body=True)},
        "/query": {"post": _route("Read-only SQL over the system tables", body=True)},
    },
}
