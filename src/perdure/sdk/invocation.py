"""The asyncio driver: runs one attempt of a handler over the journal machine.

`run_attempt` is the contract with the transports (the ASGI endpoint, the in-process
transport): it gets the request body chunk by chunk from `AttemptIO.receive` and streams the
response body through `AttemptIO.send`.

1. Read input until the machine has Start and the whole replayed journal.
2. Run the handler in its own task, while a reader task keeps feeding input to the machine
   (bidirectional streaming: notifications arrive while the handler runs).
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
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, Protocol

from perdure.sdk import logging as replay_logging
from perdure.sdk.commands import Machine
from perdure.sdk.errors import (
    AttemptFinished,
    RetryableError,
    SdkInternalBaseException,
    SuspendedException,
    TerminalError,
)
from perdure.sdk.handler import HandlerSpec
from perdure.sdk.notifications import Awaiting, Failure, NotificationValue
from perdure.sdk.progress import (
    AnyCompleted,
    CancelSignalReceived,
    ExecuteRun,
    Input,
    MachineError,
    Suspended,
)

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
"""How long to wait, after the terminal message, for the server to close the request body."""


class AttemptIO(Protocol):
    """The byte streams of one attempt."""

    async def receive(self) -> bytes | None:
        """The next request-body chunk; None at end of input."""
        ...

    async def send(self, data: bytes) -> None:
        """Write response-body bytes."""
        ...


RunClosure = Callable[[], Awaitable[None]]


class Attempt:
    """Shared state of one attempt: the machine, its I/O, and the tasks around it."""

    def __init__(self, machine: Machine, io: AttemptIO) -> None:
        self.machine = machine
        self.io = io
        self.finished = asyncio.Event()
        self.run_closures: dict[int, RunClosure] = {}
        self._progress = asyncio.Event()
        self._run_tasks: set[asyncio.Task[None]] = set()
        self._disconnected = False
        self._input_done = asyncio.Event()

    # -- Output -------------------------------------------------------------------------------

    async def flush(self) -> None:
        data = self.machine.take_output()
        if data:
            await self.io.send(data)

    # -- Input --------------------------------------------------------------------------------

    async def read_until_ready(self) -> bool:
        """Feed input until the journal is complete; False if the attempt already failed."""
        try:
            while not self.machine.is_ready_to_execute():
                chunk = await self.io.receive()
                if chunk is None:
                    self.machine.notify_input_closed()
                    self._input_done.set()
                else:
                    self.machine.notify_input(chunk)
        except MachineError:
            return False
        return True

    async def read_input(self) -> None:
        """Reader task: feed every chunk to the machine and wake the awaiting handler."""
        try:
            while not self._input_done.is_set():
                chunk = await self.io.receive()
                if chunk is None:
                    self.machine.notify_input_closed()
                    break
                self.machine.notify_input(chunk)
                self._progress.set()
        except Exception:
            logger.debug("input stream of the attempt broke", exc_info=True)
            self._disconnected = True
        finally:
            self._input_done.set()
            self._progress.set()

    async def wait_input_closed(self, within_s: float) -> bool:
        try:
            async with asyncio.timeout(within_s):
                await self._input_done.wait()
        except TimeoutError:
            return False
        return True

    # -- Await points -------------------------------------------------------------------------

    async def wait_for(self, awaiting: Awaiting) -> None:
        """Return once `awaiting` can resolve; raise on cancel, suspension, or failure."""
        while True:
            await self.flush()
            self._progress.clear()
            try:
                progress = self.machine.do_progress(awaiting)
            except MachineError as exc:
                await self.flush()
                raise AttemptFinished(str(exc)) from exc
            self.update_replaying()
            if isinstance(progress, AnyCompleted):
                return
            if isinstance(progress, CancelSignalReceived):
                await self.flush()
                raise TerminalError("cancelled", 409)
            if isinstance(progress, Suspended):
                await self.flush()
                raise SuspendedException()
            if isinstance(progress, ExecuteRun):
                self._start_run(progress.handle)
                continue
            if self._disconnected:
                raise AttemptFinished("the connection to the server was lost")
            await self._progress.wait()

    async def result(self, handle: int) -> NotificationValue:
        """The result of `handle`, waiting for it if needed; a failure raises TerminalError."""
        if not self.machine.is_completed(handle):
            await self.wait_for(handle)
        value: NotificationValue | None = self.sys(self.machine.take_notification, handle)
        if value is None:
            raise AttemptFinished(f"no result for handle {handle} after it completed")
        if isinstance(value, Failure):
            raise TerminalError(value.message, value.code, dict(value.metadata) or None)
        return value

    def sys(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a machine method; a failed machine ends the attempt in user code."""
        try:
            out = fn(*args, **kwargs)
        except MachineError as exc:
            raise AttemptFinished(str(exc)) from exc
        self.update_replaying()
        return out

    def update_replaying(self) -> None:
        replay_logging.is_replaying.set(self.machine.is_replaying())

    # -- ctx.run closures ---------------------------------------------------------------------

    def _start_run(self, handle: int) -> None:
        closure = self.run_closures.pop(handle)
        task = asyncio.get_running_loop().create_task(self._execute_run(closure))
        self._run_tasks.add(task)
        task.add_done_callback(self._run_done)

    async def _execute_run(self, closure: RunClosure) -> None:
        try:
            await closure()
        except MachineError:
            pass  # the machine wrote its ErrorMessage; the awaiting handler sees it next
        finally:
            self._progress.set()

    def _run_done(self, task: asyncio.Task[None]) -> None:
        self._run_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("ctx.run closure task failed", exc_info=task.exception())

    async def cancel_runs(self) -> None:
        tasks = list(self._run_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def run_attempt(
    handler: HandlerSpec,
    protocol_version: int,
    attempt_headers: Mapping[str, str],
    io: AttemptIO,
) -> None:
    """Run one attempt of `handler`, speaking protocol `protocol_version` (5 or 6) over `io`."""
    attempt = Attempt(Machine(protocol_version), io)
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
    from perdure.sdk.runtime import InvocationContext  # the context needs this module

    machine = attempt.machine
    try:
        invocation = attempt.sys(machine.sys_input)
        ctx = InvocationContext(attempt, invocation, attempt_headers)
        async with AsyncExitStack() as stack:
            for factory in handler.context_managers:
                await stack.enter_async_context(factory())
            output = await _call_handler(handler, ctx, invocation)
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
