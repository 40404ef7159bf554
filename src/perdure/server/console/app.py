"""The console's entry point in the admin app: everything at `/ui` and below.

- `/ui` redirects to `/ui/` (and `/` too, so the admin port's root opens the console);
- `/ui/api/invoke/…` forwards a handler call to the ingress (`invoke.py`);
- a path naming one of the packaged assets gets that file with its content type;
- any other `/ui/…` path gets `index.html`: the console routes in the browser (History
  API), so a reloaded or shared deep link such as `/ui/invocations/inv_…` still opens.

The console reads and acts on the server only through the admin HTTP API (same origin),
exactly as any other client would; no server code runs on its behalf beyond this file.
"""

from __future__ import annotations

import urllib.parse

from perdure.server.admin.errors import admin_error
from perdure.server.config import ServerConfig
from perdure.server.console.assets import find_asset, index
from perdure.server.console.invoke import forward_to_ingress, ingress_base_url
from perdure.server.http import Request, Response

PREFIX = "/ui"
_INVOKE = "api/invoke/"


class Console:
    """Answers the admin app's `/`, `/ui` and `/ui/…` requests (see the module doc)."""

    def __init__(self, config: ServerConfig) -> None:
        self._ingress_url = ingress_base_url(config)
        self._body_limit = config.message_size_limit
        self._ingress_token = config.ingress_token

    @staticmethod
    def serves(request: Request) -> bool:
        """True for the paths the console answers (the admin app asks before routing)."""
        path = request.path
        return path in (PREFIX, "/") or path.startswith(PREFIX + "/")

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path in ("/", PREFIX):
            if request.method != "GET":
                return admin_error(405, f"method {request.method} not allowed on {path}")
            location = PREFIX + "/" + (f"?{request.raw_query}" if request.raw_query else "")
            return Response(308, b"", (("location", location),))
        rest = path[len(PREFIX) + 1 :]
        if rest.startswith(_INVOKE):
            return await forward_to_ingress(
                self._ingress_url,
                request,
                rest[len(_INVOKE) :],
                self._body_limit,
                self._ingress_token,
            )
        if rest == "api" or rest.startswith("api/"):
            return admin_error(404, f"not found: {path}")
        if request.method != "GET":
            return admin_error(405, f"method {request.method} not allowed on {path}")
        asset = find_asset(urllib.parse.unquote(rest)) or index()
        headers = (
            ("content-type", asset.content_type),
            # Assets change with the installed version; revalidate rather than go stale.
            ("cache-control", "no-cache"),
            ("x-content-type-options", "nosniff"),
        )
        return Response(200, asset.body, headers)
