"""The endpoint manifest a deployment returns on ``GET /discover``.

The manifest version comes from the request's Accept header; the protocol mode from the
HTTP version the discovery request used (the server invokes over the same one), unless
the app forces it. The shapes follow restate-sdk 1.2, so the server sees the same
manifest from a service whichever SDK serves it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from perdure.protocol.manifest import (
    EndpointManifest,
    HandlerManifest,
    HandlerType,
    InputSpec,
    ManifestError,
    OutputSpec,
    ProtocolMode,
    ServiceManifest,
)
from perdure.protocol.versions import (
    MAX_SERVICE_PROTOCOL_VERSION,
    MIN_SERVICE_PROTOCOL_VERSION,
    manifest_content_type,
    negotiate_manifest_version,
)
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.handler import HandlerSpec
from perdure.sdk.schedule import METADATA_KEY as SCHEDULES_KEY, Schedule
from perdure.sdk.schema import json_schema

ProtocolChoice = Literal["bidi", "request_response"]

_MODES: dict[ProtocolChoice, ProtocolMode] = {
    "bidi": "BIDI_STREAM",
    "request_response": "REQUEST_RESPONSE",
}
_HANDLER_TYPES: dict[str, HandlerType] = {
    "exclusive": "EXCLUSIVE",
    "shared": "SHARED",
    "workflow": "WORKFLOW",
}


@dataclass(frozen=True, slots=True)
class DiscoveryResponse:
    """What to answer a discovery request with."""

    status: int
    content_type: str
    body: bytes


def protocol_mode_for(http_version: str, forced: ProtocolChoice | None) -> ProtocolMode:
    """BIDI_STREAM over HTTP/2, REQUEST_RESPONSE over HTTP/1.x, unless `forced`.

    Over HTTP/1.1 the server sends the whole request body before it reads the response,
    so a bidirectional stream is impossible there.
    """
    if forced is not None:
        return _MODES[forced]
    return "REQUEST_RESPONSE" if http_version.startswith("1") else "BIDI_STREAM"


def build_manifest(
    services: Iterable[ServiceDefinition],
    protocol_mode: ProtocolMode,
    schedules: Sequence[Schedule] = (),
) -> EndpointManifest:
    return EndpointManifest(
        protocol_mode=protocol_mode,
        min_protocol_version=MIN_SERVICE_PROTOCOL_VERSION,
        max_protocol_version=MAX_SERVICE_PROTOCOL_VERSION,
        services=tuple(_service_manifest(s, schedules) for s in services),
    )


def discover(
    services: Iterable[ServiceDefinition],
    accept: str | None,
    http_version: str,
    forced: ProtocolChoice | None = None,
    schedules: Sequence[Schedule] = (),
) -> DiscoveryResponse:
    """Negotiate the manifest version and render the manifest.

    415 when Accept lists no version we speak (2-4); 500 when a service uses a field the
    negotiated version lacks (e.g. a retry policy towards a v3-only server).
    """
    version = negotiate_manifest_version(accept)
    if version is None:
        return DiscoveryResponse(
            415,
            "text/plain",
            f"unsupported endpoint manifest version(s) {accept!r}; this endpoint speaks "
            f"{', '.join(manifest_content_type(v) for v in (2, 3, 4))}".encode(),
        )
    manifest = build_manifest(services, protocol_mode_for(http_version, forced), schedules)
    try:
        data = manifest.to_json(version)
    except ManifestError as e:
        return DiscoveryResponse(
            500,
            "text/plain",
            f"cannot describe the services in endpoint manifest v{version}: {e}. Upgrade "
            "the server or remove the option.".encode(),
        )
    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    return DiscoveryResponse(200, manifest_content_type(version), body)


def _service_manifest(
    service: ServiceDefinition, schedules: Sequence[Schedule] = ()
) -> ServiceManifest:
    handlers = []
    for spec in service.handlers.values():
        manifest = _handler_manifest(spec)
        mine = [s for s in schedules if (s.service, s.handler) == (service.name, spec.name)]
        if mine:
            metadata = dict(manifest.options.metadata or {})
            metadata[SCHEDULES_KEY] = json.dumps([s.to_json() for s in mine])
            manifest = replace(manifest, options=replace(manifest.options, metadata=metadata))
        handlers.append(manifest)
    return ServiceManifest(
        name=service.name,
        ty=service.service_type,
        handlers=tuple(handlers),
        options=service.options,
    )


def _handler_manifest(spec: HandlerSpec) -> HandlerManifest:
    if spec.takes_input:
        # No hint means "anything": restate-sdk says so with the schema `true`.
        schema = True if spec.input_type_hint is None else json_schema(spec.input_type_hint)
        handler_input = InputSpec(content_type=spec.accept, required=False, json_schema=schema)
    else:
        handler_input = InputSpec.none()
    if spec.output_type_hint is None:
        # A handler returning None: no content type, so an empty response carries none.
        output = OutputSpec(content_type=None)
    else:
        output = OutputSpec(
            content_type=spec.content_type, json_schema=json_schema(spec.output_type_hint)
        )
    return HandlerManifest(
        name=spec.name,
        ty=None if spec.kind is None else _HANDLER_TYPES[spec.kind],
        input=handler_input,
        output=output,
        options=spec.options,
    )
