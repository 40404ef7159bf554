"""Runs one attempt of a handler: the contract with the transports.

`run_attempt` gets the request body chunk by chunk from `AttemptIO.receive` and streams the
response body through `AttemptIO.send` (the ASGI endpoint and the in-process transport call
it):

1. Read input until the machine has Start and the whole replayed journal.
2. Run the handler in its own task, with its context (`_context.InvocationContext`), while a
   reader task keeps feeding input to the machine (bidirectional streaming: notifications
   arrive while the handler runs).
3. Every await point flushes the output, then asks the machine what to do
   (`Attempt.wait_for`): return, execute a `ctx.run` closure, wait for input, or suspend.
4. Finish with End, Suspension or Error; then keep reading until the server closes the request
   body (bounded), as the official SDK does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from perdure.protocol.heartbeat import HEARTBEAT_HEADER
from perdure.sdk import _tracing, logging as replay_logging
from perdure.sdk._attempt import Attempt, AttemptIO
from perdure.sdk._context import InvocationContext
from perdure.sdk._core.commands import Machine
from perdure.sdk._core.notifications import Failure
from perdure.sdk._core.progress import Input, MachineError
from perdure.sdk.errors import RetryableError, SdkInternalBaseException, TerminalError
from perdure.sdk.handler import HandlerSpec

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
"""How long to wait, after the terminal message, for the server to close the request body."""


async def run_attempt(
    handler: HandlerSpec,
    protocol_version: int,
    attempt_headers: Mapping[str, str],
    io: AttemptIO,
    *,
    execute_runs: bool = True,
) -> None:
    """Run one attempt of `handler`, speaking protocol `protocol_version` (5 or 6) over `io`.

    `execute_runs=False` replays only: the attempt stops where a `ctx.run` action would
    execute (`perdure replay-check`), so nothing outside the journal happens."""
    heartbeats = HEARTBEAT_HEADER in attempt_headers
    attempt = Attempt(
        Machine(protocol_version), io, execute_runs=execute_runs, heartbeats=heartbeats
    )
    ready = await attempt.read_until_ready()
    reader = asyncio.create_task(attempt.read_input())
    try:
        if ready:
            await _run_handler(handler, attempt, dict(attempt_headers))
        await attempt.flush()
        attempt.finished.set()
        await attempt.cancel_runs()
        # The server closes the request body after our terminal message; the official SDK
        # waits for that before ending the response, and so do we (bounded).
        if not await attempt.wait_input_closed(DRAIN_TIMEOUT_S):
            logger.debug("the server did not close the request body in time")
    finally:
        attempt.finished.set()
        attempt.abandon_runs()  # when cancelled (aborted attempt): no action outlives it
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _run_handler(handler: HandlerSpec, attempt: Attempt, headers: dict[str, str]) -> None:
    # Its own task, so that the replay flag (a ContextVar) does not leak into the caller.
    task = asyncio.create_task(_invoke(handler, attempt, headers))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise


async def _invoke(handler: HandlerSpec, attempt: Attempt, attempt_headers: dict[str, str]) -> None:
    """The handler task: run user code, then write its outcome into the machine."""
    machine = attempt.machine
    try:
        invocation = attempt.sys(machine.sys_input)
        with _tracing.attempt_span(
            handler.service_name,
            handler.name,
            invocation.invocation_id,
            attempt_headers,
            invocation.headers,
        ) as span:
            try:
                ctx = InvocationContext(attempt, invocation, attempt_headers)
                async with AsyncExitStack() as stack:
                    for factory in handler.context_managers:
                        await stack.enter_async_context(factory())
                    output = await _call_handler(handler, ctx, invocation)
            except Exception as exc:
                if not isinstance(_classify(exc), SdkInternalBaseException):
                    span.failed(exc)  # the handler failed (a suspension is no failure)
                raise
        replay_logging.is_replaying.set(False)
        machine.sys_write_output(output)
        machine.sys_end()
    except MachineError:
        pass  # the machine already wrote its ErrorMessage and closed the output
    except BaseException as exc:  # classified by _record_failure, never dropped
        replay_logging.is_replaying.set(False)
        if isinstance(exc, asyncio.CancelledError):
            raise
        _record_failure(machine, exc)


async def _call_handler(handler: HandlerSpec, ctx: Any, invocation: Input) -> bytes:
    if handler.takes_input:
        try:
            argument = handler.input_serde.deserialize(invocation.body)
        except Exception as exc:
            raise TerminalError(f"Unable to parse an input argument. {exc}") from exc
        result = await handler.fn(ctx, argument)
    else:
        result = await handler.fn(ctx)
    return bytes(handler.output_serde.serialize(result))


def _record_failure(machine: Machine, exc: BaseException) -> None:
    """Turn what the handler raised into Output{failure}+End or an ErrorMessage."""
    cause = _classify(exc)
    try:
        if isinstance(cause, SdkInternalBaseException):
            return  # suspension or a failed machine: the terminal message is written
        if isinstance(cause, TerminalError):
            metadata = tuple((cause.metadata or {}).items())
            machine.sys_write_output(Failure(cause.status_code, cause.message, metadata))
            machine.sys_end()
        elif isinstance(cause, RetryableError):
            delay = cause.retry_after
            machine.notify_error(
                cause.message,
                _stacktrace(cause),
                code=cause.status_code,
                next_retry_delay_ms=None if delay is None else int(delay.total_seconds() * 1000),
            )
        else:
            logger.warning("handler failed, the attempt will be retried", exc_info=exc)
            machine.notify_error(repr(exc), _stacktrace(exc))
    except MachineError:
        pass  # the machine was closed already (e.g. suspended): nothing left to write


def _classify(exc: BaseException) -> BaseException:
    """The TerminalError/RetryableError/internal exception user code may have wrapped."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TerminalError | RetryableError | SdkInternalBaseException):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return exc


def _stacktrace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
