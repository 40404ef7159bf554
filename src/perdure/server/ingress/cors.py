"""Cross-origin requests, as restate-server's ingress answers them (tower-http's
`CorsLayer::very_permissive`): every origin, method and header is allowed, credentials
too; a preflight (`OPTIONS` with `access-control-request-method`) is answered 200 by the
layer itself, mirroring what the browser asked for."""

from __future__ import annotations

from perdure.server.http import Request, Response

_VARY = ("vary", "origin, access-control-request-method, access-control-request-headers")


def is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS" and request.header("access-control-request-method") is not None
    )


def cors_headers(request: Request, *, preflight: bool) -> tuple[tuple[str, str], ...]:
    headers = [("access-control-allow-credentials", "true")]
    origin = request.header("origin")
    if origin is not None:
        headers.append(("access-control-allow-origin", origin))
    if preflight:
        asked = request.header("access-control-request-headers")
        if asked is not None:
            headers.append(("access-control-allow-headers", asked))
        method = request.header("access-control-request-method")
        if method is not None:
            headers.append(("access-control-allow-methods", method))
    headers.append(_VARY)
    return tuple(headers)


def preflight_response(request: Request) -> Response:
    return Response(200, b"", cors_headers(request, preflight=True))


def with_cors(request: Request, response: Response) -> Response:
    headers = (*response.headers, *cors_headers(request, preflight=False))
    return Response(response.status, response.body, headers)
