"""The one place that sends HTTP: a thin layer over httpx that turns every failure into
an `IngressError`, so proxies and handles only see successful responses."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from perdure.client.errors import IngressUnreachable, error_from_response


class IngressHttp:
    """Requests to one ingress base URL."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The response if its status is 2xx; IngressError (or a subclass) otherwise."""
        try:
            response = await self.http.request(
                method, path, content=content, headers=headers, params=params
            )
        except httpx.TransportError as exc:
            url = self.http.base_url.join(path)
            raise IngressUnreachable(f"{method} {url} got no response: {exc!r}") from exc
        if not response.is_success:
            raise error_from_response(response)
        return response
