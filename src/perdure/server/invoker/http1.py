"""The request-response transport over httpx (protocol reference §2.4, §6.1).

The whole request (StartMessage and journal) is written, then the response is read. In
this mode the deployment receives nothing after the request body, so the session never
streams: every await on a result that is not in the journal yet ends in a suspension and
a later full replay. httpx fits because the request is complete before the response is
read; streaming attempts use our own `h2` client (bidi.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from perdure.server.errors import TransportError
from perdure.server.invoker.driver import ResponseHead

CONNECT_TIMEOUT_S = 30.0


class Http1Transport:
    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._client = client
        self._url = url
        self._headers = headers
        self._body = bytearray()
        self._response: asyncio.Future[httpx.Response] = asyncio.get_running_loop().create_future()
        self._chunks: AsyncIterator[bytes] | None = None

    async def send(self, data: bytes) -> None:
        if self._response.done():
            raise TransportError("a request-response attempt cannot send after its request")
        self._body += data

    async def end_input(self) -> None:
        # The session's abort timeout bounds every wait for the deployment: no read timeout.
        request = self._client.build_request(
            "POST",
            self._url,
            content=bytes(self._body),
            headers=self._headers,
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None),
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from None
        self._chunks = response.aiter_raw()
        self._response.set_result(response)

    async def head(self) -> ResponseHead:
        response = await self._response
        return ResponseHead(response.status_code, dict(response.headers))

    async def read(self) -> bytes:
        await self._response
        assert self._chunks is not None
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            return b""
        except httpx.HTTPError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from None

    async def drain(self) -> None:
        pass  # closing the response is enough: nothing after a terminal message counts

    async def aclose(self) -> None:
        if self._response.done() and not self._response.cancelled():
            await self._response.result().aclose()
