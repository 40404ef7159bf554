"""perdure's HTTP/2 client against services written with the official restate-sdk 1.2.0,
served by hypercorn (h2c, prior knowledge) in this event loop.

The exchanges here speak the service protocol by hand, the way a bidi attempt does: Start
and Input go out, the request body stays open, and the server side of the protocol
(RunCompletion after ProposeRunCompletion) is played by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import restate
from hypercorn.asyncio import serve
from hypercorn.config import Config
from restate import Context

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import Frame, FrameDecoder, encode_frame
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType, encode_message
from perdure.server.invoker import h2client
from perdure.server.invoker.h2client import H2Error, H2Pool, H2Stream

CONTENT_TYPE = "application/vnd.restate.invocation.v6"
DEADLINE_S = 20.0

steps = restate.Service("H2Steps")


@steps.handler()
async def run_step(ctx: Context, tag: str) -> str:
    return await ctx.run_typed("step", lambda: f"ran-{tag}")


@steps.handler()
async def echo(ctx: Context, text: str) -> str:
    return text


APP = restate.app([steps])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _served(max_streams: int = 100) -> AsyncIterator[str]:
    config = Config()
    port = _free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.h2_max_concurrent_streams = max_streams
    stop = asyncio.Event()
    task = asyncio.create_task(serve(APP, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_S)


async def _open(pool: H2Pool, url: str, handler: str, argument: str) -> H2Stream:
    invocation_id = InvocationId.generate(None)
    stream = await pool.open_stream(
        f"{url}/invoke/H2Steps/{handler}",
        [
            ("content-type", CONTENT_TYPE),
            ("accept", CONTENT_TYPE),
            ("x-restate-invocation-id", str(invocation_id)),
        ],
    )
    start = pb.StartMessage(
        id=invocation_id.to_bytes(),
        debug_id=str(invocation_id),
        known_entries=1,
        partial_state=True,
    )
    value = pb.Value(content=f'"{argument}"'.encode())
    entry = pb.InputCommandMessage(value=value).SerializeToString()
    await stream.send(encode_message(start) + encode_frame(MessageType.INPUT, entry))
    return stream


async def _exchange(stream: H2Stream) -> tuple[bytes, bool]:
    """Play the server until End; returns (output value, request body still open at End)."""
    head = await stream.response()
    assert head.status == 200
    assert head.headers["content-type"] == CONTENT_TYPE
    decoder = FrameDecoder()
    output = b""
    while True:
        chunk = await stream.read()
        assert chunk, "the response ended before End"
        for frame in decoder.feed(chunk):
            output = await _play(stream, frame, output)
            if frame.type == MessageType.END:
                open_at_end = not stream.request_ended
                await stream.end()
                assert await stream.read() == b""
                return output, open_at_end


async def _play(stream: H2Stream, frame: Frame, output: bytes) -> bytes:
    if frame.type == MessageType.PROPOSE_RUN_COMPLETION:
        proposal = pb.ProposeRunCompletionMessage()
        proposal.ParseFromString(frame.payload)
        notification = pb.NotificationTemplate(completion_id=proposal.result_completion_id)
        notification.value.content = proposal.value
        await stream.send(
            encode_frame(MessageType.RUN_COMPLETION, notification.SerializeToString())
        )
    elif frame.type == MessageType.OUTPUT:
        message = pb.OutputCommandMessage()
        message.ParseFromString(frame.payload)
        return message.value.content
    else:
        assert frame.type in (MessageType.RUN, MessageType.END), hex(frame.type)
    return output


async def test_run_completes_while_the_request_body_is_open() -> None:
    # Full duplex: the SDK proposes the run result, gets the RunCompletion on the same
    # open request body, and ends without suspending.
    async with _served() as url:
        pool = H2Pool()
        try:
            stream = await _open(pool, url, "run_step", "a")
            output, open_at_end = await asyncio.wait_for(_exchange(stream), DEADLINE_S)
        finally:
            await pool.aclose()
    assert output == b'"ran-a"'
    assert open_at_end


async def test_at_the_connection_bound_streams_wait_within_the_peer_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(h2client, "MAX_CONNECTIONS_PER_AUTHORITY", 1)
    peak = 0
    async with _served(max_streams=4) as url:
        pool = H2Pool()

        async def one(i: int) -> bytes:
            nonlocal peak
            stream = await _open(pool, url, "run_step", f"s{i}")
            connection = stream._connection
            peak = max(peak, connection.active_streams)
            output, _ = await _exchange(stream)
            return output

        try:
            outputs = await asyncio.wait_for(
                asyncio.gather(*(one(i) for i in range(20))), DEADLINE_S
            )
            connections = sum(len(group) for group in pool._connections.values())
        finally:
            await pool.aclose()
    assert outputs == [f'"ran-s{i}"'.encode() for i in range(20)]
    assert connections == 1
    # Streams waited for a free slot instead of exceeding SETTINGS_MAX_CONCURRENT_STREAMS.
    assert peak == 4


async def test_a_full_connection_gets_a_new_one_instead_of_waiting() -> None:
    """Liveness: an attempt holds its stream while waiting for the calls it made, whose
    attempts need streams too; a stream must not wait for a held one to finish."""
    async with _served(max_streams=2) as url:
        pool = H2Pool()
        try:
            held = [await _open(pool, url, "run_step", f"h{i}") for i in range(3)]
            late = await asyncio.wait_for(_open(pool, url, "run_step", "late"), DEADLINE_S)
            output, _ = await asyncio.wait_for(_exchange(late), DEADLINE_S)
            [connections] = pool._connections.values()
            for stream in held:
                await asyncio.wait_for(_exchange(stream), DEADLINE_S)
        finally:
            await pool.aclose()
    assert output == b'"ran-late"'
    assert len(connections) == 2  # 3 held + 1 over connections of 2 streams each


async def test_streams_per_connection_are_capped_below_the_peer_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(h2client, "MAX_STREAMS_PER_CONNECTION", 3)
    async with _served(max_streams=1000) as url:
        pool = H2Pool()
        try:
            streams = [await _open(pool, url, "run_step", f"c{i}") for i in range(7)]
            [connections] = pool._connections.values()
            counts = sorted(c.active_streams for c in connections)
            for stream in streams:
                await asyncio.wait_for(_exchange(stream), DEADLINE_S)
        finally:
            await pool.aclose()
    assert counts == [1, 3, 3]


async def test_messages_larger_than_every_flow_control_window() -> None:
    # 6 MiB each way: more than the peer's window (our sends must wait for
    # WINDOW_UPDATE) and more than ours (reads must hand window back).
    text = "x" * (6 * 1024 * 1024)
    async with _served() as url:
        pool = H2Pool()
        try:
            stream = await _open(pool, url, "echo", text)
            output, _ = await asyncio.wait_for(_exchange(stream), DEADLINE_S)
        finally:
            await pool.aclose()
    assert output == f'"{text}"'.encode()


async def test_status_and_refused_connection_are_reported() -> None:
    async with _served() as url:
        pool = H2Pool()
        try:
            stream = await pool.open_stream(f"{url}/invoke/H2Steps/nope", [])
            await stream.end()
            head = await asyncio.wait_for(stream.response(), DEADLINE_S)
        finally:
            await pool.aclose()
    assert head.status == 404
    pool = H2Pool(connect_timeout_s=5)
    with pytest.raises(H2Error, match="cannot connect"):
        await pool.open_stream(f"http://127.0.0.1:{_free_port()}/invoke/S/h", [])
    await pool.aclose()
