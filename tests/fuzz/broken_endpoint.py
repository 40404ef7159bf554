"""A deployment that speaks the service protocol wrongly, on purpose.

`perdure serve broken_endpoint.py` serves it. Discovery and the `Healthy` service are perdure's
own SDK, so the server registers it like any deployment. An attempt of `Broken/<mode>` gets a
wrong answer of that kind for the first BROKEN_ATTEMPTS attempts of its invocation; later
attempts go to the real handler (the request bytes it already read are handed over), so an
invocation that the server retries completes with `"<mode>:<input>"`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import perdure
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import FrameDecoder, encode_frame
from perdure.protocol.messages import MessageType, decode_message, encode_message

BROKEN_ATTEMPTS = 2
MODES = (
    "truncated",  # a frame's header announces more bytes than the response carries
    "huge_length",  # a header announcing 4 GiB
    "unknown_type",  # a control-range type code nobody defined
    "unknown_command",  # an undefined type code in the command range
    "bad_payload",  # a known type whose payload is not protobuf
    "wrong_order",  # a command after the Output
    "end_without_output",
    "start_from_deployment",  # a message only the server may send
    "other_completion",  # a run completion proposed for an id no Run command has
    "flags_on_command",  # the requested-ack flag on a command
    "wrong_content_type",  # 200 with text/html
    "http_error",  # HTTP 500
    "stall",  # half a frame, then silence
    "garbage_after_end",  # a correct answer followed by junk (ignored: End is final)
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

broken = perdure.Service("Broken")
healthy = perdure.Service("Healthy")


def _make(mode: str) -> None:
    async def handler(ctx: perdure.Context, value: str) -> str:
        return f"{mode}:{value}"

    handler.__name__ = mode
    broken.handler(name=mode)(handler)


for _mode in MODES:
    _make(_mode)


@healthy.handler()
async def say(ctx: perdure.Context, value: str) -> str:
    return f"healthy:{value}"


real = perdure.app(services=[broken, healthy])
_attempts: Counter[bytes] = Counter()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    path = str(scope.get("path", ""))
    if scope["type"] != "http" or not path.startswith("/invoke/Broken/"):
        await real(scope, receive, send)
        return
    mode = path.rsplit("/", 1)[1]
    read, more, start, value = await _read_start(receive)
    _attempts[start.id] += 1
    if _attempts[start.id] > BROKEN_ATTEMPTS:
        await real(scope, _replay(read, more, receive), send)
        return
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    await _misbehave(mode, value, content_type, send)


async def _read_start(receive: Receive) -> tuple[bytes, bool, Any, str]:
    """Read the request until the StartMessage and the Input entry arrived."""
    decoder = FrameDecoder()
    data = bytearray()
    frames: list[Any] = []
    more = True
    while more and len(frames) < 2:
        message = await receive()
        if message["type"] != "http.request":
            break
        data += message.get("body", b"")
        more = bool(message.get("more_body", False))
        frames += decoder.feed(message.get("body", b""))
    _, start = decode_message(frames[0])
    _, first = decode_message(frames[1])
    assert isinstance(first, pb.InputCommandMessage)
    return bytes(data), more, start, json.loads(first.value.content)


def _replay(read: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that hands over the bytes already read, then the rest of the request."""
    pending = [{"type": "http.request", "body": read, "more_body": more}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _output(text: str) -> bytes:
    message = pb.OutputCommandMessage()
    message.value.content = text.encode()
    return encode_message(message)


END = encode_message(pb.EndMessage())


async def _misbehave(mode: str, value: str, content_type: bytes, send: Send) -> None:
    answer = json.dumps(f"{mode}:{value}")
    status, body = 200, b""
    if mode == "truncated":
        body = _output(answer)[:-3]
    elif mode == "huge_length":
        body = encode_frame(MessageType.OUTPUT, b"")[:4] + b"\xff\xff\xff\xff"
    elif mode == "unknown_type":
        body = encode_frame(0x0100, b"") + END
    elif mode == "unknown_command":
        body = encode_frame(0x0470, b"\x08\x01") + END
    elif mode == "bad_payload":
        body = encode_frame(MessageType.OUTPUT, b"\xff\xff\xff\xff") + END
    elif mode == "wrong_order":
        late = pb.RunCommandMessage(result_completion_id=1, name="late")
        body = _output(answer) + encode_message(late) + END
    elif mode == "end_without_output":
        body = END
    elif mode == "start_from_deployment":
        body = encode_message(pb.StartMessage(id=b"x")) + END
    elif mode == "other_completion":
        proposal = pb.ProposeRunCompletionMessage(result_completion_id=42)
        proposal.value = b"1"
        body = encode_message(proposal, flags=0x8000) + END
    elif mode == "flags_on_command":
        body = _output(answer)[:2] + b"\x80\x00" + _output(answer)[4:] + END
    elif mode == "wrong_content_type":
        content_type, body = b"text/html", b"<html>not the protocol</html>"
    elif mode == "http_error":
        status, content_type, body = 500, b"text/plain", b"the deployment fell over"
    elif mode == "garbage_after_end":
        body = _output(answer) + END + b"\x00\x07garbage after the end"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    if mode == "stall":
        await send({"type": "http.response.body", "body": _output(answer)[:5], "more_body": True})
        await asyncio.sleep(60)  # the server's abort timeout ends this attempt first
        return
    await send({"type": "http.response.body", "body": body})
