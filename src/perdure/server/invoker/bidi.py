"""The streaming transport over HTTP/2 (protocol reference §2.4, §6.1-§6.4): one stream
whose request body stays open while the deployment answers, on our own `h2` client
(h2client.py; httpx cannot keep a request open while reading the response). Its `H2Error`s
are `TransportError`s."""

from __future__ import annotations

from perdure.server.invoker.driver import ResponseHead
from perdure.server.invoker.h2client import H2Pool, H2Stream


class H2Transport:
    def __init__(self, stream: H2Stream) -> None:
        self._stream = stream

    @classmethod
    async def open(cls, pool: H2Pool, url: str, headers: dict[str, str]) -> H2Transport:
        return cls(await pool.open_stream(url, list(headers.items())))

    async def send(self, data: bytes) -> None:
        await self._stream.send(data)

    async def end_input(self) -> None:
        await self._stream.end()

    async def head(self) -> ResponseHead:
        response = await self._stream.response()
        return ResponseHead(response.status, response.headers)

    async def read(self) -> bytes:
        return await self._stream.read()

    async def drain(self) -> None:
        """Read the response to its end; nothing after a terminal message counts."""
        while await self.read():
            pass

    async def aclose(self) -> None:
        self._stream.reset()  # a no-op once both directions ended
