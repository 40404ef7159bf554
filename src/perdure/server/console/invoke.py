"""`/ui/api/invoke/{ingress path}`: the console's invoke form calls handlers through this.

The ingress listens on another origin (its own port), which the browser's same-origin
policy keeps the console from calling, so the admin app forwards the request: same
method, path, query, body and the headers that steer an invocation; the ingress's answer
comes back unchanged (status, body, content type, invocation id). Nothing is interpreted
here: the ingress stays the one place that validates and starts invocations.
"""

from __future__ import annotations

import httpx

from perdure.server.admin.errors import admin_error
from perdure.server.config import ServerConfig
from perdure.server.http import BodyTooLarge, Request, Response

# A call waits for the handler's result; past this the console's caller gets a 504 (the
# invocation itself goes on: `send` does not wait).
CALL_TIMEOUT_S = 120.0
_FORWARDED_HEADERS = frozenset({"content-type", "accept", "idempotency-key"})
_RETURNED_HEADERS = frozenset({"content-type", "x-restate-id"})
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def ingress_base_url(config: ServerConfig) -> str:
    """Where this server's ingress answers; a wildcard bind address is reached on loopback."""
    host = _WILDCARD_HOSTS.get(config.host, config.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.ingress_port}"


async def forward_to_ingress(
    base_url: str,
    request: Request,
    ingress_path: str,
    body_limit: int,
    ingress_token: str | None = None,
) -> Response:
    """Send `request` to `{base_url}/{ingress_path}` and answer what the ingress answered."""
    if request.method not in ("GET", "POST"):
        return admin_error(405, f"method {request.method} not allowed on /ui/api/invoke")
    try:
        body = await request.body(body_limit)
    except BodyTooLarge:
        return admin_error(413, f"the request body is larger than {body_limit} bytes")
    url = f"{base_url}/{ingress_path}"
    if request.raw_query:
        url += "?" + request.raw_query
    headers = [(k, v) for k, v in request.headers if k in _FORWARDED_HEADERS]
    if ingress_token is not None:
        # The caller passed the admin API's check; the ingress has its own token.
        headers.append(("authorization", f"Bearer {ingress_token}"))
    timeout = httpx.Timeout(10.0, read=CALL_TIMEOUT_S)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.request(request.method, url, content=body, headers=headers)
    except httpx.TimeoutException:
        return admin_error(
            504,
            f"the ingress did not answer within {CALL_TIMEOUT_S:g}s; the invocation goes on "
            "(use send to start one without waiting for its result)",
        )
    except httpx.TransportError as exc:
        return admin_error(502, f"cannot reach the ingress at {base_url}: {exc}")
    returned = tuple((k, v) for k, v in answer.headers.items() if k in _RETURNED_HEADERS)
    return Response(answer.status_code, answer.content, returned)
