"""Ingress path and request rules for calls and sends (reference surfaces §1.1-§1.2).

Paths: the unversioned `/{svc}[/{key}]/{handler}[/send]` and the new
`/restate/call|send/{svc}[/{key}]/{handler}`. Whether a segment is a key depends on the
service's type, so the service is looked up first (404 when unknown). Scoped paths and
limit keys are 1.7 flow-control features that need vqueues, which perdure (like a default
restate-server) does not enable: they are refused with restate's messages.

Headers: every value must be ASCII (restate's `to_str`), the idempotency key visible
ASCII. The handler sees every request header except connection, host, idempotency-key and
idempotency-expires, preceded by `x-restate-ingress-path`.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from perdure.protocol.manifest import HandlerManifest
from perdure.server.engine import ServiceInfo
from perdure.server.http import Request
from perdure.server.ingress.errors import IngressError
from perdure.store.api import Store

NOT_FORWARDED = frozenset({"connection", "host", "idempotency-key", "idempotency-expires"})
SCOPE_REFUSED = "scoped invocations require vqueues to be enabled"
LIMIT_KEY_REFUSED = "limit-key requires a scope to be set"
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class CallTarget:
    info: ServiceInfo
    handler: HandlerManifest
    key: str | None
    send: bool


def check_path(path: str) -> None:
    """Restate accepts 2 to 7 slashes; `/openapi` is not served on the ingress (404)."""
    if path.rstrip("/") == "/openapi":
        raise IngressError(404, "the ingress serves no OpenAPI document; ask the admin API")
    if not 2 <= path.count("/") <= 7:
        raise IngressError(400, f"bad path '{path}': expected /{{service}}/[{{key}}/]{{handler}}")


def decode_key(text: str) -> str:
    """Keys are percent-decoded (service and handler names are not); bytes are kept."""
    if _PERCENT.search(text):
        raise IngressError(400, "cannot decode the key: malformed percent-encoding")
    try:
        return urllib.parse.unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise IngressError(400, "cannot decode the key: invalid UTF-8") from None


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


def target_of(
    info: ServiceInfo, key_and_handler: list[str], *, send: bool, path: str
) -> CallTarget:
    """`[key,] handler` after the service name, checked against the service's type."""
    keyed = info.manifest.ty != "SERVICE"
    if len(key_and_handler) != (2 if keyed else 1):
        shape = "/{service}/{key}/{handler}" if keyed else "/{service}/{handler}"
        raise IngressError(400, f"bad path '{path}': {info.name} is called as {shape}")
    key = decode_key(key_and_handler[0]) if keyed else None
    name = key_and_handler[-1]
    handler = info.handler(name)
    if handler is None:
        raise IngressError(
            404,
            f"the service '{info.name}' exists, but the handler '{name}' was not found, "
            "check that the handler exists in the latest registered service version.",
        )
    if not info.row.public or handler.options.ingress_private:
        raise IngressError(400, "the invoked service is not public")
    return CallTarget(info, handler, key, send)


async def new_api_target(
    services: ServiceDirectory, request: Request, rest: list[str]
) -> CallTarget:
    """`rest` follows `/restate/`: `call|send/{svc}[/{key}]/{handler}` or `scope/…`."""
    if rest[0] == "scope":
        raise IngressError(400, SCOPE_REFUSED)
    if request.method != "POST":
        raise IngressError(405, f"method {request.method} not allowed: use POST")
    if len(rest) < 3:
        raise IngressError(400, f"bad path '{request.path}'")
    info = await services.lookup(rest[1])
    return target_of(info, rest[2:], send=rest[0] == "send", path=request.path)


def check_headers(request: Request) -> str | None:
    """Refuse what restate refuses; return the idempotency key, if any."""
    for name, value in request.headers:
        if not all(c == "\t" or " " <= c <= "~" for c in value):
            raise IngressError(400, f"bad header '{name}': the value must be ASCII")
    if request.header("x-restate-limit-key") is not None or "limit-key" in request.query:
        raise IngressError(400, LIMIT_KEY_REFUSED)
    key = request.header("idempotency-key")
    if key is not None and (not key or not all("!" <= c <= "~" for c in key)):
        raise IngressError(400, "bad idempotency-key header: must be visible ASCII")
    return key


def forwarded_headers(request: Request) -> tuple[tuple[str, str], ...]:
    path = request.path + (f"?{request.raw_query}" if request.raw_query else "")
    forwarded = [(k, v) for k, v in request.headers if k not in NOT_FORWARDED]
    return (("x-restate-ingress-path", path), *forwarded)
