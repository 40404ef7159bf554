"""Optional bearer-token authentication for the admin API and, separately, the ingress.

Off by default, as in restate-server. With a token configured every request must carry
`Authorization: Bearer <token>` (the admin API also takes the `perdure-admin-token` cookie,
which the console sets for the browser); anything else is answered 401. The health
probes (`/health`, `/restate/health`) stay open so load balancers and orchestrators can
check liveness without a secret. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from http.cookies import SimpleCookie

from perdure.server.http import Request, Response, json_response

logger = logging.getLogger(__name__)

ADMIN_COOKIE = "perdure-admin-token"


class BearerAuth:
    def __init__(
        self,
        token: str | None,
        *,
        cookie: str | None = None,
        open_paths: tuple[str, ...] = (),
    ) -> None:
        self._token = token.encode() if token else None
        self._cookie = cookie
        self._open = frozenset(open_paths)

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def refusal(self, request: Request) -> Response | None:
        """None when `request` may pass; else the 401 to answer."""
        if self._token is None or request.path.rstrip("/") in self._open:
            return None
        offered = _bearer(request.header("authorization"))
        if offered is None and self._cookie is not None:
            offered = _cookie(request.header("cookie"), self._cookie)
        if offered is not None and hmac.compare_digest(offered.encode(), self._token):
            return None
        message = (
            "missing or wrong credentials: send 'Authorization: Bearer <token>'"
            if offered is None
            else "the bearer token is not valid for this server"
        )
        return json_response(
            401, {"code": 401, "message": message}, (("www-authenticate", "Bearer"),)
        )


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header carries no credentials
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_open(host: str, admin_token: str | None) -> None:
    """Say so at startup when the admin API is reachable beyond this machine unguarded."""
    if admin_token is None and not is_loopback(host):
        logger.warning(
            "the admin API listens on %s without a token: anyone who reaches it can register "
            "deployments, read state and kill invocations; set --admin-token-file (or "
            "PERDURE_ADMIN_TOKEN), or bind to 127.0.0.1",
            host,
        )
