"""Ingress rules for calls and sends (reference surfaces §1.2), checked in restate-server's
order (`service_handler.rs`), so a request with several problems gets the same refusal
from both servers: handler, public, idempotency key, scope, method, body and input,
delay, limit key, forwarded headers, and last a delay on a call.

Scoped paths and limit keys are 1.7 flow-control features that need vqueues, which
perdure (like a default restate-server) does not enable: they are refused with restate's
messages.

Headers: values must be "visible ASCII" as the `http` crate's `to_str` defines it (tab,
space to `~`); restate's message for one that is not quotes the crate's error verbatim.
The handler sees every request header except connection, host, idempotency-key and
idempotency-expires, preceded by `x-restate-ingress-path`.
"""

from __future__ import annotations

from dataclasses import dataclass

from perdure.protocol.manifest import HandlerManifest
from perdure.server.engine import ServiceInfo
from perdure.server.http import Request
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.paths import ServiceRoute
from perdure.store.api import Store

NOT_FORWARDED = frozenset({"connection", "host", "idempotency-key", "idempotency-expires"})
SCOPE_REFUSED = "scoped invocations require vqueues to be enabled"
LIMIT_KEY_REFUSED = "limit-key requires a scope to be set"
WORKFLOW_IDEMPOTENCY_KEY = (
    "cannot use the idempotency key with workflow handlers. The handler invocation will "
    "already be idempotent by the workflow key itself."
)
METHOD_NOT_ALLOWED = "method not allowed"


@dataclass(frozen=True, slots=True)
class CallTarget:
    info: ServiceInfo
    handler: HandlerManifest
    key: str | None
    send: bool


def bad_header(name: str) -> IngressError:
    return IngressError(400, f"bad header {name}: ToStrError {{ _priv: () }}")


def visible_ascii(value: str) -> bool:
    return all(c == "\t" or " " <= c <= "~" for c in value)


class ServiceDirectory:
    """The registered services as the ingress sees them, cached until the store's schema
    version moves (a registration committed), so a call costs no store read for them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._version = -1
        self._known: dict[str, ServiceInfo | None] = {}

    async def get(self, name: str) -> ServiceInfo | None:
        version = self._store.schema_version()
        if version != self._version:
            self._known.clear()
            self._version = version
        if name not in self._known:
            row = await self._store.read(lambda txn: txn.get_service(name))
            # Keep it only if no registration committed while we read.
            info = None if row is None else ServiceInfo.from_row(row)
            if self._store.schema_version() == version:
                self._known[name] = info
            return info
        return self._known[name]

    async def lookup(self, name: str) -> ServiceInfo:
        info = await self.get(name)
        if info is None:
            raise IngressError(
                404,
                f"service '{name}' not found, make sure to register the service before calling it.",
            )
        return info


async def resolve_call(
    services: ServiceDirectory, request: Request, route: ServiceRoute
) -> CallTarget:
    """The handler a call or send targets, after restate's checks up to the method."""
    info = await services.get(route.service)
    handler = info.handler(route.handler) if info is not None else None
    if info is None or handler is None:
        raise IngressError(
            404,
            f"the service '{route.service}' exists, but the handler '{route.handler}' was "
            "not found, check that the handler exists in the latest registered service version.",
        )
    if not info.row.public or handler.options.ingress_private:
        raise IngressError(400, "the invoked service is not public")
    idempotency_key = request.header("idempotency-key")
    if idempotency_key is not None:
        if not visible_ascii(idempotency_key):
            raise bad_header("idempotency-key")
        if handler.ty == "WORKFLOW":
            raise IngressError(400, WORKFLOW_IDEMPOTENCY_KEY)
    if route.scope is not None:
        raise IngressError(400, SCOPE_REFUSED)
    if request.method not in ("GET", "POST"):
        raise IngressError(405, METHOD_NOT_ALLOWED)
    return CallTarget(info, handler, route.key, route.send)


def check_limit_key(request: Request) -> None:
    limit_key = request.header("x-restate-limit-key")
    if limit_key is not None and not visible_ascii(limit_key):
        raise bad_header("x-restate-limit-key")
    if limit_key is not None or "limit-key" in request.query:
        raise IngressError(400, LIMIT_KEY_REFUSED)


def forwarded_headers(request: Request) -> tuple[tuple[str, str], ...]:
    path = request.path + (f"?{request.raw_query}" if request.raw_query else "")
    forwarded: list[tuple[str, str]] = []
    for name, value in request.headers:
        if name in NOT_FORWARDED:
            continue
        if not visible_ascii(value):
            raise bad_header(name)
        forwarded.append((name, value))
    return (("x-restate-ingress-path", path), *forwarded)
