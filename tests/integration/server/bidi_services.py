"""Services for the bidi invoker tests, written with the official restate-sdk 1.2.0.

Run as `python -m hypercorn bidi_services:app --bind 127.0.0.1:PORT` with this folder on
PYTHONPATH (HTTP/2 cleartext with prior knowledge is how perdure reaches it).

Environment:
- `PERDURE_TEST_ATTEMPTS`: a file where every `/invoke` request (one attempt) appends a
  JSON line with what the server sent in its StartMessage, and whether and when the
  request body ended, so a test sees attempts, eager state and body closing from the
  deployment's side of the wire.
- `PERDURE_TEST_EFFECTS`: a file where `ctx.run` bodies append one line each.
- `PERDURE_TEST_VERSION`: a tag the `Pinned` service returns (which deployment ran it).

`hang_app` is a misbehaving deployment: valid discovery, but `/invoke` answers 200 and
then never sends a frame.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

import restate
from restate import Context, ObjectContext

ATTEMPTS_FILE = os.environ.get("PERDURE_TEST_ATTEMPTS", "")
EFFECTS_FILE = os.environ.get("PERDURE_TEST_EFFECTS", "")
VERSION = os.environ.get("PERDURE_TEST_VERSION", "v0")


def _append(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


counter = restate.VirtualObject("BidiCounter")


@counter.handler()
async def add(ctx: ObjectContext, value: int) -> int:
    new = (await ctx.get("count", type_hint=int) or 0) + value
    ctx.set("count", new)
    return new


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


big = restate.VirtualObject("BigState")


@big.handler()
async def put(ctx: ObjectContext, req: dict[str, Any]) -> None:
    ctx.set(req["name"], "x" * int(req["size"]))


@big.handler()
async def total(ctx: ObjectContext, names: list[str]) -> int:
    sizes = [len(await ctx.get(name, type_hint=str) or "") for name in names]
    return sum(sizes)


lazy = restate.VirtualObject("LazyState", enable_lazy_state=True)


@lazy.handler()
async def bump(ctx: ObjectContext) -> int:
    new = (await ctx.get("n", type_hint=int) or 0) + 1
    ctx.set("n", new)
    return new


steps = restate.Service("BidiSteps")


@steps.handler()
async def run_once(ctx: Context, tag: str) -> str:
    def effect() -> str:
        _append(EFFECTS_FILE, f"run:{tag}")
        return f"value-{tag}"

    return await ctx.run_typed("effect", effect)


@steps.handler()
async def sleep_for(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}"


@steps.handler()
async def output_of(ctx: Context, size: int) -> str:
    return "y" * size


@steps.handler()
async def call(ctx: Context, req: dict[str, Any]) -> Any:
    result = await ctx.generic_call(
        req["service"], req["handler"], arg=req["body"].encode(), key=req.get("key")
    )
    return result.decode()


@steps.handler()
async def send(ctx: Context, req: dict[str, Any]) -> str:
    handle = ctx.generic_send(
        req["service"], req["handler"], arg=req["body"].encode(), key=req.get("key")
    )
    return await handle.invocation_id()


# Per-service inactivity timeout from the manifest (inactivityTimeout), far below the
# server's default: a short sleep suspends here, nowhere else.
impatient = restate.Service("Impatient", inactivity_timeout=timedelta(milliseconds=300))


@impatient.handler(name="sleep_for")
async def impatient_sleep(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}"


pinned = restate.Service("Pinned")


@pinned.handler()
async def version(ctx: Context, sleep_ms: int) -> str:
    if sleep_ms:
        await ctx.sleep(timedelta(milliseconds=sleep_ms))
    return VERSION


_sdk_app = restate.app([counter, big, lazy, steps, impatient, pinned])


def _start_summary(body: bytes) -> dict[str, Any]:
    from perdure.protocol import protocol_pb2 as pb
    from perdure.protocol.framing import HEADER_SIZE, decode_header

    _, _, length = decode_header(body[:HEADER_SIZE])
    start = pb.StartMessage()
    start.ParseFromString(body[HEADER_SIZE : HEADER_SIZE + length])
    return {
        "known_entries": start.known_entries,
        "partial_state": start.partial_state,
        "state_keys": sorted(e.key.decode() for e in start.state_map),
    }


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The SDK app, recording each attempt (one `/invoke` request) on the way in."""
    if scope["type"] != "http" or "/invoke/" not in scope["path"] or not ATTEMPTS_FILE:
        await _sdk_app(scope, receive, send)
        return
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    record: dict[str, Any] = {
        "path": scope["path"],
        "invocation_id": headers.get("x-restate-invocation-id"),
        "version": VERSION,
        "started": time.time(),
    }
    buffered = b""
    written = False

    def write(body_ended: bool) -> None:
        nonlocal written
        if not written:
            written = True
            record["body_ended_early"] = body_ended
            _append(ATTEMPTS_FILE, json.dumps(record))

    async def tapped() -> Any:
        nonlocal buffered
        message = await receive()
        if message["type"] == "http.request" and not written:
            buffered += message.get("body", b"")
            if len(buffered) >= 8:
                length = int.from_bytes(buffered[4:8], "big")
                if len(buffered) >= 8 + length:
                    record.update(_start_summary(buffered))
                    # Did the request body end together with Start + journal
                    # (request-response) or stay open (bidi)?
                    write(not message.get("more_body", False))
        return message

    await _sdk_app(scope, tapped, send)


HANG_MANIFEST = {
    "protocolMode": "BIDI_STREAM",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 6,
    "services": [{"name": "Hang", "ty": "SERVICE", "handlers": [{"name": "hang"}]}],
}


async def hang_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers discovery, then hangs every attempt after its response head."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await _respond(send, b"text/plain", b"ok")
        return
    if scope["path"].endswith("/discover"):
        body = json.dumps(HANG_MANIFEST).encode()
        await _respond(send, b"application/vnd.restate.endpointmanifest.v2+json", body)
        return
    content_type = b"application/vnd.restate.invocation.v6"
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    _append(ATTEMPTS_FILE, json.dumps({"event": "attempt", "at": time.time()}))
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            _append(ATTEMPTS_FILE, json.dumps({"event": "disconnect", "at": time.time()}))
            return
        if not message.get("more_body", False):
            _append(ATTEMPTS_FILE, json.dumps({"event": "body_ended", "at": time.time()}))


async def _respond(send: Any, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
