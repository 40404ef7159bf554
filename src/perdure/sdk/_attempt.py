"""The asyncio side of one attempt: feeds the journal machine its input, flushes its
output, and answers the handler's await points (`Attempt.wait_for`): return, execute a
`ctx.run` closure, wait for input, or suspend. `_run.run_attempt` drives it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

from perdure.protocol.heartbeat import HEARTBEAT_FRAME
from perdure.sdk import logging as replay_logging
from perdure.sdk._core.commands import Machine
from perdure.sdk._core.notifications import Awaiting, Failure, NotificationValue
from perdure.sdk._core.progress import (
    AnyCompleted,
    CancelSignalReceived,
    ExecuteRun,
    MachineError,
    Suspended,
)
from perdure.sdk.errors import (
    AttemptFinished,
    SdkInternalBaseException,
    SuspendedException,
    TerminalError,
)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class AttemptIO(Protocol):
    """The byte streams of one attempt."""

    async def receive(self) -> bytes | None:
        """The next request-body chunk; None at end of input."""
        ...

    async def send(self, data: bytes) -> None:
        """Write response-body bytes."""
        ...


RunClosure = Callable[[], Awaitable[None]]

in_run_action: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "perdure_in_run_action", default=False
)
"""True while a `ctx.run` action executes (its task, and the thread of a sync action):
lets test tools tell a side effect inside a durable step from one outside any."""


class ReplayFinished(SdkInternalBaseException):
    """Raised into the handler of a replay-only attempt (`execute_runs=False`) when the
    next step would execute a `ctx.run` action: the journal was replayed to its end."""


class Attempt:
    """Shared state of one attempt: the machine, its I/O, and the tasks around it."""

    def __init__(
        self,
        machine: Machine,
        io: AttemptIO,
        *,
        execute_runs: bool = True,
        heartbeats: bool = False,
    ) -> None:
        self.machine = machine
        self.io = io
        self.execute_runs = execute_runs
        self.heartbeats = heartbeats  # the server said it understands heartbeat frames
        self._loop = asyncio.get_running_loop()
        self._beating: asyncio.Task[None] | None = None
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

    def heartbeat(self) -> None:
        """Send a heartbeat frame (thread-safe; a no-op unless the server asked for them)."""
        if not self.heartbeats or self.finished.is_set():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._beat()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the attempt is over
                self._loop.call_soon_threadsafe(self._beat)

    def _beat(self) -> None:
        if self.finished.is_set() or (self._beating is not None and not self._beating.done()):
            return  # one in flight is enough
        self._beating = self._loop.create_task(self._send_heartbeat())

    async def _send_heartbeat(self) -> None:
        if self.finished.is_set():
            return
        try:
            await self.io.send(HEARTBEAT_FRAME)
        except Exception:
            logger.debug("a heartbeat could not be sent", exc_info=True)

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
                if not self.execute_runs:
                    raise ReplayFinished("replay only: ctx.run actions do not execute")
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

    def sys(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
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
        in_run_action.set(True)  # this task's own context: it ends with the action
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

    def abandon_runs(self) -> None:
        """The attempt was cancelled: its running actions must not outlive it."""
        for task in list(self._run_tasks):
            task.cancel()

    async def cancel_runs(self) -> None:
        tasks = list(self._run_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
