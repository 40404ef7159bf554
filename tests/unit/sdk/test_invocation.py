"""`run_attempt` end to end over an in-memory AttemptIO: bytes in, bytes out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from journal_bytes import cmd, completion, decode_all, input_cmd, signal, start, types_of

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType as MT
from perdure.sdk._run import run_attempt
from perdure.sdk.combinators import gather, select
from perdure.sdk.context import Context, ObjectContext, RunOptions
from perdure.sdk.errors import RetryableError, TerminalError
from perdure.sdk.handler import HandlerSpec, attach_spec
from perdure.sdk.serde import DefaultSerde


class MemoryIO:
    """Request body from a queue (None = end of input); response body collected."""

    def __init__(self, *chunks: bytes, close: bool = True) -> None:
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        for chunk in chunks:
            self.inbox.put_nowait(chunk)
        if close:
            self.inbox.put_nowait(None)
        self.sent = bytearray()
        self.wrote = asyncio.Event()

    async def receive(self) -> bytes | None:
        return await self.inbox.get()

    async def send(self, data: bytes) -> None:
        self.sent += data
        self.wrote.set()

    async def wait_for_frame(self, message_type: MT) -> None:
        while message_type not in types_of(bytes(self.sent)):
            self.wrote.clear()
            await asyncio.wait_for(self.wrote.wait(), 2)


def spec(fn: Callable[..., Awaitable[Any]], *, takes_input: bool = True) -> HandlerSpec:
    handler = HandlerSpec(
        service_name="Svc",
        service_type="VIRTUAL_OBJECT",
        name=fn.__name__,
        kind="exclusive",
        fn=fn,
        takes_input=takes_input,
        input_serde=DefaultSerde(),
        output_serde=DefaultSerde(),
    )
    attach_spec(fn, handler)
    return handler


async def attempt(fn: Callable[..., Awaitable[Any]], *chunks: bytes, **kw: Any) -> list[Any]:
    io = MemoryIO(*chunks)
    await asyncio.wait_for(run_attempt(spec(fn, **kw), 6, {"x-attempt": "1"}, io), 5)
    return decode_all(bytes(io.sent))


async def greet(ctx: Context, name: str) -> str:
    assert ctx.request().attempt_headers == {"x-attempt": "1"}
    return f"hello {name}"


async def test_output_and_end() -> None:
    frames = await attempt(greet, start(1), input_cmd(b'"world"'))
    assert [t for t, _ in frames] == [MT.OUTPUT, MT.END]
    assert frames[0][1].value.content == b'"hello world"'


async def test_run_proposes_then_suspends_waiting_for_its_ack() -> None:
    calls: list[str] = []

    async def handler(ctx: Context) -> int:
        def side_effect() -> int:
            calls.append("ran")
            return 42

        return await ctx.run_typed("r", side_effect)

    frames = await attempt(handler, start(1) + input_cmd(), takes_input=False)
    assert [t for t, _ in frames] == [MT.RUN, MT.PROPOSE_RUN_COMPLETION, MT.SUSPENSION]
    assert frames[1][1].value == b"42"
    assert list(frames[2][1].waiting_completions) == [1]
    assert list(frames[2][1].waiting_signals) == [1]
    assert calls == ["ran"]


async def test_replayed_run_is_not_executed_again() -> None:
    calls: list[str] = []

    async def handler(ctx: Context) -> int:
        async def side_effect() -> int:
            calls.append("ran")
            return 1

        return await ctx.run_typed("r", side_effect) + 1

    journal = [
        input_cmd(),
        cmd(pb.RunCommandMessage(result_completion_id=1, name="r")),
        completion(MT.RUN_COMPLETION, 1, value=b"41"),
    ]
    frames = await attempt(handler, start(3), *journal, takes_input=False)
    assert [t for t, _ in frames] == [MT.OUTPUT, MT.END]
    assert frames[0][1].value.content == b"42"
    assert calls == []


async def test_bidi_stream_receives_completions_while_running() -> None:
    async def handler(ctx: Context) -> str:
        await ctx.sleep(timedelta(seconds=1), "nap")
        return "woke"

    io = MemoryIO(start(1), input_cmd(), close=False)
    task = asyncio.create_task(run_attempt(spec(handler, takes_input=False), 6, {}, io))
    await io.wait_for_frame(MT.SLEEP)
    io.inbox.put_nowait(completion(MT.SLEEP_COMPLETION, 1))
    await io.wait_for_frame(MT.END)
    assert not task.done(), "waits for the server to close the request body"
    io.inbox.put_nowait(None)
    await asyncio.wait_for(task, 2)
    assert types_of(bytes(io.sent)) == [MT.SLEEP, MT.OUTPUT, MT.END]


async def test_terminal_error_becomes_output_failure() -> None:
    async def handler(ctx: Context) -> None:
        try:
            raise TerminalError("nope", 418, {"k": "v"})
        except TerminalError as exc:
            raise ValueError("wrapped") from exc

    frames = await attempt(handler, start(1), input_cmd(), takes_input=False)
    assert [t for t, _ in frames] == [MT.OUTPUT, MT.END]
    failure = frames[0][1].failure
    assert (failure.code, failure.message) == (418, "nope")
    assert [(m.key, m.value) for m in failure.metadata] == [("k", "v")]


async def test_unexpected_exception_is_a_retryable_error() -> None:
    async def handler(ctx: Context) -> None:
        raise KeyError("boom")

    frames = await attempt(handler, start(1), input_cmd(), takes_input=False)
    assert [t for t, _ in frames] == [MT.ERROR]
    assert frames[0][1].code == 500
    assert "KeyError" in frames[0][1].stacktrace


async def test_retryable_error_sets_next_retry_delay() -> None:
    async def handler(ctx: Context) -> None:
        raise RetryableError("later", status_code=503, retry_after=timedelta(seconds=2))

    frames = await attempt(handler, start(1), input_cmd(), takes_input=False)
    error = frames[0][1]
    assert (error.code, error.message, error.next_retry_delay) == (503, "later", 2000)


async def test_cancellation_raises_409_and_cancels_child_calls() -> None:
    async def callee(ctx: Context, x: int) -> int:
        return x

    spec(callee)

    async def handler(ctx: Context) -> str:
        call = ctx.service_call(callee, 1)
        ctx.service_send(callee, 2)
        try:
            await call
        except TerminalError as exc:
            return f"{exc.status_code} {exc.message}"
        return "not cancelled"

    chunks = [
        start(1),
        input_cmd(),
        completion(MT.CALL_INVOCATION_ID_COMPLETION, 1, invocation_id="inv_child"),
        signal(1),
    ]
    frames = await attempt(handler, *chunks, takes_input=False)
    assert [t for t, _ in frames] == [
        MT.CALL,
        MT.ONE_WAY_CALL,
        MT.SEND_SIGNAL,
        MT.OUTPUT,
        MT.END,
    ]
    assert frames[2][1].target_invocation_id == "inv_child"
    assert frames[2][1].idx == 1
    assert frames[3][1].value.content == b'"409 cancelled"'


async def test_gather_suspends_on_every_pending_handle() -> None:
    async def handler(ctx: Context) -> None:
        await gather(ctx.sleep(timedelta(seconds=1)), ctx.sleep(timedelta(seconds=2)))

    frames = await attempt(handler, start(1), input_cmd(), takes_input=False)
    suspension = frames[-1][1]
    assert sorted(suspension.waiting_completions) == [1, 2]
    assert list(suspension.waiting_signals) == [1]


async def test_select_returns_the_first_completed() -> None:
    async def handler(ctx: Context) -> str:
        name, value = await select(
            timeout=ctx.sleep(timedelta(days=1)), done=ctx.awakeable(type_hint=str)[1]
        )
        return f"{name}:{value}"

    frames = await attempt(
        handler, start(1), input_cmd(), signal(17, value=b'"v"'), takes_input=False
    )
    assert frames[-2][1].value.content == b'"done:v"'


async def test_eager_state_and_replaying_logs() -> None:
    async def handler(ctx: ObjectContext) -> int:
        count = await ctx.get("count", type_hint=int) or 0
        ctx.set("count", count + 1)
        return count + 1

    frames = await attempt(
        handler, start(1, state={"count": b"4"}, partial=False), input_cmd(), takes_input=False
    )
    assert [t for t, _ in frames] == [MT.GET_EAGER_STATE, MT.SET_STATE, MT.OUTPUT, MT.END]
    assert frames[2][1].value.content == b"5"


async def test_journal_mismatch_is_error_570() -> None:
    async def handler(ctx: Context) -> None:
        await ctx.sleep(timedelta(seconds=1), "other")

    journal = [input_cmd(), cmd(pb.RunCommandMessage(result_completion_id=1, name="r"))]
    frames = await attempt(handler, start(2), *journal, takes_input=False)
    assert [t for t, _ in frames] == [MT.ERROR]
    error = frames[0][1]
    assert (error.code, error.related_command_index, error.related_command_type) == (570, 1, 0x040C)


async def test_run_retries_exhausted_raise_terminal_error() -> None:
    async def handler(ctx: Context) -> str:
        def flaky() -> str:
            raise ConnectionError("down")

        try:
            await ctx.run_typed("flaky", flaky, RunOptions(max_attempts=3))
        except TerminalError as exc:
            return exc.message
        return "ok"

    io = MemoryIO(
        start(2, retry_count=2, duration_ms=100),
        input_cmd(),
        cmd(pb.RunCommandMessage(result_completion_id=1, name="flaky")),
        close=False,
    )
    task = asyncio.create_task(run_attempt(spec(handler, takes_input=False), 6, {}, io))
    await io.wait_for_frame(MT.PROPOSE_RUN_COMPLETION)
    proposal = decode_all(bytes(io.sent))[0][1]
    assert proposal.failure.code == 500
    assert "ConnectionError" in proposal.failure.message
    io.inbox.put_nowait(completion(MT.RUN_COMPLETION, 1, failure=(500, proposal.failure.message)))
    io.inbox.put_nowait(None)
    await asyncio.wait_for(task, 2)
    frames = decode_all(bytes(io.sent))
    assert [t for t, _ in frames] == [MT.PROPOSE_RUN_COMPLETION, MT.OUTPUT, MT.END]


async def test_run_failure_within_attempts_asks_server_to_retry() -> None:
    async def handler(ctx: Context) -> None:
        async def flaky() -> None:
            raise ConnectionError("down")

        await ctx.run_typed("flaky", flaky, RunOptions(max_attempts=3))

    frames = await attempt(handler, start(1), input_cmd(), takes_input=False)
    assert [t for t, _ in frames] == [MT.RUN, MT.ERROR]
    error = frames[1][1]
    assert (error.related_command_index, error.related_command_name) == (1, "flaky")
    assert error.next_retry_delay == 50


async def test_input_closed_before_journal_is_complete() -> None:
    frames = await attempt(greet, start(3), input_cmd(b'"x"'))
    assert [t for t, _ in frames] == [MT.ERROR]
    assert frames[0][1].code == 571


@pytest.mark.parametrize("version", [5, 6])
async def test_random_is_seeded_by_the_invocation(version: int) -> None:
    async def handler(ctx: Context) -> int:
        return ctx.random().randint(0, 10**9)

    outputs = []
    for _ in range(2):
        io = MemoryIO(start(1, seed=1234), input_cmd())
        await run_attempt(spec(handler, takes_input=False), version, {}, io)
        outputs.append(decode_all(bytes(io.sent))[0][1].value.content)
    assert outputs[0] == outputs[1]
