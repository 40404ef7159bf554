"""Ingress path parsing, in the order and with the refusals of restate-server 1.7
(`crates/ingress-http/src/handler/path_parsing.rs`), so that a bad path gets the same
status and message from both servers.

The path is split on `/` as received (percent-encoded). Whether the segment after a
service name is a key depends on the service's type, so the service is looked up while
parsing (404 when unknown); keys are percent-decoded, names are not. Segments beyond what
a route needs are an error for calls and sends, and ignored elsewhere (restate reads no
further than it needs).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from perdure.server.ingress.errors import IngressError

Operation = Literal["attach", "output"]
ServiceTypeOf = Callable[[str], Awaitable[str | None]]  # "SERVICE", "VIRTUAL_OBJECT", …

NOT_FOUND = "not found"
BAD_SERVICE_PATH = (
    "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"
)
BAD_AWAKEABLES_PATH = (
    "bad path, expected either /restate/awakeables/:id/resolve or /restate/awakeables/:id/reject"
)
BAD_INVOCATION_PATH = (
    "bad path, expected either /restate/invocation/:invocation_id/output or "
    "/restate/invocation/:invocation_id/attach or "
    "/restate/invocation/:invocation_target/:idempotency_key/output or "
    "/restate/invocation/:invocation_target/:idempotency_key/attach"
)
BAD_WORKFLOW_PATH = (
    "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
    "/restate/workflow/:workflow_name/:workflow_key/attach"
)
BAD_RESTATE_API_PATH = (
    "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, "
    "/restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, "
    "/restate/output/:invocation_id, or /restate/lookup"
)


@dataclass(frozen=True, slots=True)
class Health:
    pass


@dataclass(frozen=True, slots=True)
class AwakeableRoute:
    awakeable_id: str
    reject: bool


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """A call or send: `/svc[/key]/handler[/send]`, `/restate/call|send/…`, or scoped."""

    service: str
    key: str | None
    handler: str
    send: bool
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class ByIdRoute:
    """Attach or output of an invocation named by its id (not parsed yet)."""

    invocation_id: str
    operation: Operation


@dataclass(frozen=True, slots=True)
class IdempotentRoute:
    service: str
    key: str | None
    handler: str
    idempotency_key: str
    operation: Operation


@dataclass(frozen=True, slots=True)
class WorkflowRoute:
    workflow: str
    key: str
    operation: Operation


@dataclass(frozen=True, slots=True)
class ByTargetRoute:
    """`POST /restate/attach|output|lookup` with a JSON body naming the target."""

    operation: Literal["attach", "output", "lookup"]


Route = (
    Health
    | AwakeableRoute
    | ServiceRoute
    | ByIdRoute
    | IdempotentRoute
    | WorkflowRoute
    | ByTargetRoute
)


def _refuse(status: int, message: str) -> IngressError:
    return IngressError(status, message)


def decode_key(text: str) -> str:
    """Percent-decode a key as restate's `urlencoding::decode`: malformed escapes stay as
    they are; bytes that are not UTF-8 are refused, with Rust's description of why."""
    raw = urllib.parse.unquote_to_bytes(text)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        truncated = exc.reason == "unexpected end of data"
        length = "None" if truncated else f"Some({exc.end - exc.start})"
        detail = (
            f"FromUtf8Error {{ bytes: {list(raw)}, error: Utf8Error {{ "
            f"valid_up_to: {exc.start}, error_len: {length} }} }}"
        )
        raise _refuse(400, f"bad path, cannot decode key: {detail}") from None


class _Segments:
    def __init__(self, parts: list[str]) -> None:
        self._parts = parts
        self._at = 0

    def next(self, missing: str | None = None) -> str | None:
        """The next segment; None at the end, or, given `missing`, a 400 with it."""
        if self._at >= len(self._parts):
            if missing is not None:
                raise _refuse(400, missing)
            return None
        self._at += 1
        return self._parts[self._at - 1]

    def need(self, missing: str) -> str:
        value = self.next(missing)
        assert value is not None
        return value


async def _keyed(service_type_of: ServiceTypeOf, name: str) -> bool:
    ty = await service_type_of(name)
    if ty is None:
        raise _refuse(
            404,
            f"service '{name}' not found, make sure to register the service before calling it.",
        )
    return ty != "SERVICE"


def _operation(text: str | None) -> Operation:
    if text == "output":
        return "output"
    if text == "attach":
        return "attach"
    raise _refuse(404, NOT_FOUND)


async def parse_path(path: str, service_type_of: ServiceTypeOf) -> Route:
    # restate trims trailing slashes before routing (`/restate/` is `/restate`).
    path = path.rstrip("/") or "/"
    if not 2 <= path.count("/") <= 7:
        raise _refuse(400, f"bad path: {path}")
    segments = _Segments(path.split("/")[1:])
    first = segments.need(NOT_FOUND)
    if first == "restate":
        return await _restate(segments, service_type_of)
    if first == "openapi":
        raise _refuse(404, NOT_FOUND)  # restate has the route but serves nothing there
    keyed = await _keyed(service_type_of, first)
    key = decode_key(segments.need(BAD_SERVICE_PATH)) if keyed else None
    handler = segments.need(BAD_SERVICE_PATH)
    last = segments.next()
    if last not in (None, "send") or segments.next() is not None:
        raise _refuse(400, BAD_SERVICE_PATH)
    return ServiceRoute(first, key, handler, send=last == "send")


async def _restate(segments: _Segments, service_type_of: ServiceTypeOf) -> Route:
    verb = segments.next()
    if verb is None:
        raise _refuse(404, NOT_FOUND)
    if verb == "health":
        return Health()
    if verb in ("awakeables", "a"):
        awakeable_id = segments.need(BAD_AWAKEABLES_PATH)
        operation = segments.need(BAD_AWAKEABLES_PATH)
        if operation not in ("resolve", "reject"):
            raise _refuse(404, NOT_FOUND)
        return AwakeableRoute(awakeable_id, reject=operation == "reject")
    if verb == "invocation":
        return await _invocation(segments, service_type_of)
    if verb == "workflow":
        workflow = segments.need(BAD_WORKFLOW_PATH)
        key = decode_key(segments.need(BAD_WORKFLOW_PATH))
        return WorkflowRoute(workflow, key, _operation(segments.need(BAD_WORKFLOW_PATH)))
    if verb in ("call", "send"):
        return await _call_or_send(verb, None, segments, service_type_of)
    if verb == "scope":
        scope = decode_key(segments.need(BAD_RESTATE_API_PATH))
        inner = segments.need(BAD_RESTATE_API_PATH)
        return await _call_or_send(inner, scope, segments, service_type_of)
    if verb in ("attach", "output"):
        invocation_id = segments.next()
        if invocation_id is None:
            return ByTargetRoute("attach" if verb == "attach" else "output")
        if segments.next() is not None:
            raise _refuse(400, BAD_RESTATE_API_PATH)
        return ByIdRoute(invocation_id, "attach" if verb == "attach" else "output")
    if verb == "lookup":
        if segments.next() is not None:
            raise _refuse(400, BAD_RESTATE_API_PATH)
        return ByTargetRoute("lookup")
    raise _refuse(404, NOT_FOUND)


async def _invocation(segments: _Segments, service_type_of: ServiceTypeOf) -> Route:
    first = segments.need(BAD_INVOCATION_PATH)
    second = segments.need(BAD_INVOCATION_PATH)
    third = segments.next()
    if third is None:
        return ByIdRoute(first, _operation(second))
    if await _keyed(service_type_of, first):
        key: str | None = decode_key(second)
        handler, idempotency_key = third, segments.need(BAD_INVOCATION_PATH)
    else:
        key, handler, idempotency_key = None, second, third
    operation = _operation(segments.need(BAD_INVOCATION_PATH))
    return IdempotentRoute(first, key, handler, idempotency_key, operation)


async def _call_or_send(
    verb: str, scope: str | None, segments: _Segments, service_type_of: ServiceTypeOf
) -> ServiceRoute:
    if verb not in ("call", "send"):
        raise _refuse(400, BAD_RESTATE_API_PATH)
    service = segments.need(BAD_RESTATE_API_PATH)
    key = None
    if await _keyed(service_type_of, service):
        key = decode_key(segments.need(BAD_RESTATE_API_PATH))
    handler = segments.need(BAD_RESTATE_API_PATH)
    if segments.next() is not None:
        raise _refuse(400, BAD_RESTATE_API_PATH)
    return ServiceRoute(service, key, handler, send=verb == "send", scope=scope)
