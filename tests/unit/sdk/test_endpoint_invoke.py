"""End to end through the endpoint and the real runtime (`perdure.sdk._run`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import FrameDecoder
from perdure.protocol.messages import MessageType, decode_message, encode_message
from perdure.protocol.versions import protocol_content_type
from perdure.sdk.endpoint import Endpoint, app
from perdure.sdk.errors import TerminalError
from perdure.sdk.service import Service


def _greeter() -> Endpoint:
    greeter = Service("Greeter")

    @greeter.handler()
    async def greet(ctx: Any, name: str) -> str:
        return f"hi {name}"

    @greeter.handler()
    async def refuse(ctx: Any, name: str) -> str:
        raise TerminalError(f"no {name}", status_code=403)

    return app([greeter])


def _attempt(body: bytes) -> bytes:
    """A first attempt as the server sends it: Start and the Input command."""
    start = pb.StartMessage(id=b"\x01" * 16, debug_id="inv_1test", known_entries=1, random_seed=7)
    command = pb.InputCommandMessage(value=pb.Value(content=body))
    return encode_message(start) + encode_message(command)


def _messages(body: bytes) -> list[tuple[MessageType, Any]]:
    return [decode_message(frame) for frame in FrameDecoder().feed(body)]


@pytest.mark.parametrize("version", [5, 6])
async def test_invoke_runs_the_handler(version: int) -> None:
    content_type = protocol_content_type(version)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_greeter()), base_url="http://sdk"
    ) as client:
        response = await client.post(
            "/invoke/Greeter/greet",
            content=_attempt(b'"bob"'),
            headers={"content-type": content_type, "accept": content_type},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    messages = _messages(response.content)
    assert [t for t, _ in messages] == [MessageType.OUTPUT, MessageType.END]
    assert messages[0][1].value.content == b'"hi bob"'


async def test_invoke_reports_a_terminal_error() -> None:
    content_type = protocol_content_type(6)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_greeter()), base_url="http://sdk"
    ) as client:
        response = await client.post(
            "/invoke/Greeter/refuse",
            content=_attempt(b'"bob"'),
            headers={"content-type": content_type},
        )
    messages = _messages(response.content)
    assert [t for t, _ in messages] == [MessageType.OUTPUT, MessageType.END]
    failure = messages[0][1].failure
    assert (failure.code, failure.message) == (403, "no bob")
