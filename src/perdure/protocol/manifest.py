"""The endpoint manifest that `GET /discover` returns (JSON, camelCase), versions 2-4.

Version 2 has names, types, input/output, documentation and metadata; version 3 adds
timeouts, retentions, lazy state and ingress privacy; version 4 adds the retry policy and
Lambda compression. `to_json(version)` drops what a version does not know, and raises
`ManifestError` when a service needs a field the negotiated version lacks.
`EndpointManifest.from_json` is the tolerant server-side parser: unknown fields are
ignored, missing or malformed required ones raise `ManifestError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast

from perdure.protocol.errors import ProtocolError

ServiceType = Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]
HandlerType = Literal["EXCLUSIVE", "SHARED", "WORKFLOW"]
ProtocolMode = Literal["BIDI_STREAM", "REQUEST_RESPONSE"]
OnMaxAttempts = Literal["PAUSE", "KILL"]

SERVICE_NAME_RE = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$")
HANDLER_NAME_RE = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$")

JsonObject = dict[str, object]


class ManifestError(ProtocolError):
    """A manifest is malformed, or uses a field its version does not have."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What a handler accepts. `InputSpec.none()` is the empty object: no input at all."""

    content_type: str | None = "*/*"
    required: bool = False
    json_schema: object | None = None

    @classmethod
    def none(cls) -> InputSpec:
        return cls(content_type=None, required=False, json_schema=None)

    @property
    def is_none(self) -> bool:
        return self.content_type is None and not self.required and self.json_schema is None


def display_content_type(pattern: str) -> str:
    """An input content type as restate renders the rule (`type/subtype`, `type/*`)."""
    kind, _, sub = pattern.strip().partition("/")
    return f"{kind}/{sub}"


@dataclass(frozen=True, slots=True)
class OutputSpec:
    content_type: str | None = "application/json"
    set_content_type_if_empty: bool = False
    json_schema: object | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicySpec:
    """Invocation retry policy fields (manifest v4). Durations in milliseconds."""

    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: OnMaxAttempts | None = None

    @property
    def is_empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.initial_interval_ms,
                self.max_interval_ms,
                self.max_attempts,
                self.exponentiation_factor,
                self.on_max_attempts,
            )
        )


@dataclass(frozen=True, slots=True)
class Options:
    """Options shared by services and handlers (manifest v3+ except where noted)."""

    documentation: str | None = None  # v2
    metadata: dict[str, str] | None = None  # v2
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None  # WORKFLOW handlers only
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy: RetryPolicySpec = field(default_factory=RetryPolicySpec)  # v4


@dataclass(frozen=True, slots=True)
class HandlerManifest:
    name: str
    ty: HandlerType | None = None
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    options: Options = field(default_factory=Options)


@dataclass(frozen=True, slots=True)
class ServiceManifest:
    name: str
    ty: ServiceType
    handlers: tuple[HandlerManifest, ...]
    options: Options = field(default_factory=Options)


@dataclass(frozen=True, slots=True)
class EndpointManifest:
    protocol_mode: ProtocolMode
    min_protocol_version: int
    max_protocol_version: int
    services: tuple[ServiceManifest, ...]
    lambda_compression: str | None = None

    def to_json(self, version: int) -> JsonObject:
        out: JsonObject = {
            "protocolMode": self.protocol_mode,
            "minProtocolVersion": self.min_protocol_version,
            "maxProtocolVersion": self.max_protocol_version,
            "services": [_service_to_json(s, version) for s in self.services],
        }
        if self.lambda_compression is not None and version >= 4:
            out["lambdaCompression"] = self.lambda_compression
        return out

    @classmethod
    def from_json(cls, data: object) -> EndpointManifest:
        obj = _obj(data, "manifest")
        mode = obj.get("protocolMode")
        if mode not in ("BIDI_STREAM", "REQUEST_RESPONSE"):
            raise ManifestError(
                f"protocolMode must be BIDI_STREAM or REQUEST_RESPONSE, got {mode!r}"
            )
        min_v = _int(obj.get("minProtocolVersion"), "minProtocolVersion")
        max_v = _int(obj.get("maxProtocolVersion"), "maxProtocolVersion")
        if not 1 <= min_v <= max_v:
            raise ManifestError(f"invalid protocol version range [{min_v}, {max_v}]")
        services = obj.get("services")
        if not isinstance(services, list):
            raise ManifestError("services must be a list")
        compression = obj.get("lambdaCompression")
        return cls(
            protocol_mode=mode,
            min_protocol_version=min_v,
            max_protocol_version=max_v,
            services=tuple(_service_from_json(s) for s in services),
            lambda_compression=compression if isinstance(compression, str) else None,
        )


# ---- encoding --------------------------------------------------------------

_V3_OPTION_FIELDS = (
    ("inactivity_timeout_ms", "inactivityTimeout"),
    ("abort_timeout_ms", "abortTimeout"),
    ("journal_retention_ms", "journalRetention"),
    ("idempotency_retention_ms", "idempotencyRetention"),
    ("workflow_completion_retention_ms", "workflowCompletionRetention"),
    ("enable_lazy_state", "enableLazyState"),
    ("ingress_private", "ingressPrivate"),
)

_RETRY_FIELDS = (
    ("initial_interval_ms", "retryPolicyInitialInterval"),
    ("max_interval_ms", "retryPolicyMaxInterval"),
    ("max_attempts", "retryPolicyMaxAttempts"),
    ("exponentiation_factor", "retryPolicyExponentiationFactor"),
    ("on_max_attempts", "retryPolicyOnMaxAttempts"),
)


def _options_to_json(options: Options, version: int, where: str, out: JsonObject) -> None:
    if options.documentation is not None:
        out["documentation"] = options.documentation
    if options.metadata:
        out["metadata"] = dict(options.metadata)
    for attr, key in _V3_OPTION_FIELDS:
        value = getattr(options, attr)
        if value is None:
            continue
        if version < 3:
            raise ManifestError(f"{where}: {key} needs endpoint manifest v3 or newer")
        out[key] = value
    if not options.retry_policy.is_empty:
        if version < 4:
            raise ManifestError(f"{where}: the retry policy needs endpoint manifest v4 or newer")
        for attr, key in _RETRY_FIELDS:
            value = getattr(options.retry_policy, attr)
            if value is not None:
                out[key] = value


def _service_to_json(service: ServiceManifest, version: int) -> JsonObject:
    out: JsonObject = {"name": service.name, "ty": service.ty}
    out["handlers"] = [_handler_to_json(h, service.name, version) for h in service.handlers]
    _options_to_json(service.options, version, f"service {service.name}", out)
    return out


def _handler_to_json(handler: HandlerManifest, service: str, version: int) -> JsonObject:
    out: JsonObject = {"name": handler.name}
    if handler.ty is not None:
        out["ty"] = handler.ty
    if handler.input.is_none:
        out["input"] = {}
    else:
        spec: JsonObject = {"required": handler.input.required}
        if handler.input.content_type is not None:
            spec["contentType"] = handler.input.content_type
        if handler.input.json_schema is not None:
            spec["jsonSchema"] = handler.input.json_schema
        out["input"] = spec
    output: JsonObject = {"setContentTypeIfEmpty": handler.output.set_content_type_if_empty}
    if handler.output.content_type is not None:
        output["contentType"] = handler.output.content_type
    if handler.output.json_schema is not None:
        output["jsonSchema"] = handler.output.json_schema
    out["output"] = output
    _options_to_json(handler.options, version, f"handler {service}/{handler.name}", out)
    return out


# ---- decoding --------------------------------------------------------------


def _obj(data: object, what: str) -> JsonObject:
    if not isinstance(data, dict):
        raise ManifestError(f"{what} must be a JSON object")
    return cast(JsonObject, data)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"{what} must be an integer, got {value!r}")
    return value


def _opt_int(obj: JsonObject, key: str) -> int | None:
    value = obj.get(key)
    return None if value is None else _int(value, key)


def _opt_bool(obj: JsonObject, key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ManifestError(f"{key} must be a boolean")
    return value


def _options_from_json(obj: JsonObject) -> Options:
    metadata = obj.get("metadata")
    documentation = obj.get("documentation")
    factor = obj.get("retryPolicyExponentiationFactor")
    on_max = obj.get("retryPolicyOnMaxAttempts")
    if on_max is not None and on_max not in ("PAUSE", "KILL"):
        raise ManifestError(f"retryPolicyOnMaxAttempts must be PAUSE or KILL, got {on_max!r}")
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, int | float)):
        raise ManifestError("retryPolicyExponentiationFactor must be a number")
    return Options(
        documentation=documentation if isinstance(documentation, str) else None,
        metadata={str(k): str(v) for k, v in metadata.items()}
        if isinstance(metadata, dict)
        else None,
        inactivity_timeout_ms=_opt_int(obj, "inactivityTimeout"),
        abort_timeout_ms=_opt_int(obj, "abortTimeout"),
        journal_retention_ms=_opt_int(obj, "journalRetention"),
        idempotency_retention_ms=_opt_int(obj, "idempotencyRetention"),
        workflow_completion_retention_ms=_opt_int(obj, "workflowCompletionRetention"),
        enable_lazy_state=_opt_bool(obj, "enableLazyState"),
        ingress_private=_opt_bool(obj, "ingressPrivate"),
        retry_policy=RetryPolicySpec(
            initial_interval_ms=_opt_int(obj, "retryPolicyInitialInterval"),
            max_interval_ms=_opt_int(obj, "retryPolicyMaxInterval"),
            max_attempts=_opt_int(obj, "retryPolicyMaxAttempts"),
            exponentiation_factor=float(factor) if factor is not None else None,
            on_max_attempts=on_max,
        ),
    )


def _service_from_json(data: object) -> ServiceManifest:
    obj = _obj(data, "service")
    name = obj.get("name")
    if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
        raise ManifestError(f"invalid service name {name!r}")
    ty = obj.get("ty")
    if ty not in ("SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"):
        raise ManifestError(f"service {name}: ty must be SERVICE, VIRTUAL_OBJECT or WORKFLOW")
    handlers = obj.get("handlers")
    if not isinstance(handlers, list):
        raise ManifestError(f"service {name}: handlers must be a list")
    parsed = tuple(_handler_from_json(h, name, ty) for h in handlers)
    names = [h.name for h in parsed]
    if len(set(names)) != len(names):
        raise ManifestError(f"service {name}: duplicate handler names")
    return ServiceManifest(name, ty, parsed, _options_from_json(obj))


def _handler_from_json(data: object, service: str, service_ty: ServiceType) -> HandlerManifest:
    obj = _obj(data, "handler")
    name = obj.get("name")
    if not isinstance(name, str) or not HANDLER_NAME_RE.match(name):
        raise ManifestError(f"service {service}: invalid handler name {name!r}")
    ty = obj.get("ty")
    if ty is not None and ty not in ("EXCLUSIVE", "SHARED", "WORKFLOW"):
        raise ManifestError(f"handler {service}/{name}: invalid ty {ty!r}")
    if service_ty == "SERVICE" and ty is not None:
        raise ManifestError(f"handler {service}/{name}: handlers of a SERVICE have no ty")
    if ty is None and service_ty == "VIRTUAL_OBJECT":
        ty = "EXCLUSIVE"
    if ty is None and service_ty == "WORKFLOW":
        ty = "WORKFLOW"
    if ty in ("EXCLUSIVE",) and service_ty == "WORKFLOW":
        raise ManifestError(f"handler {service}/{name}: workflows have no exclusive handlers")
    if ty == "WORKFLOW" and service_ty != "WORKFLOW":
        raise ManifestError(f"handler {service}/{name}: only workflows have a WORKFLOW handler")
    return HandlerManifest(
        name=name,
        ty=ty,
        input=_input_from_json(obj.get("input")),
        output=_output_from_json(obj.get("output")),
        options=_options_from_json(obj),
    )


def _input_from_json(data: object) -> InputSpec:
    if data is None:
        return InputSpec()
    obj = _obj(data, "input")
    if not obj:
        return InputSpec.none()
    ct = obj.get("contentType")
    required = obj.get("required", False)
    return InputSpec(
        content_type=ct if isinstance(ct, str) else None,
        required=bool(required),
        json_schema=obj.get("jsonSchema"),
    )


def _output_from_json(data: object) -> OutputSpec:
    if data is None:
        return OutputSpec()
    obj = _obj(data, "output")
    ct = obj.get("contentType")
    return OutputSpec(
        content_type=ct if isinstance(ct, str) else None,
        set_content_type_if_empty=bool(obj.get("setContentTypeIfEmpty", False)),
        json_schema=obj.get("jsonSchema"),
    )


def parse_service(data: object) -> ServiceManifest:
    """Parse one service object of a manifest (what a server stores per service)."""
    return _service_from_json(data)
