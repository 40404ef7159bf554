"""The handler-facing API: contexts, durable futures, promises, run options.

These are abstract: `perdure.sdk._context` implements them over the journal machine. Names and
signatures mirror restate-sdk 1.2 (`restate.context`), so code written for it runs unchanged.

Every method that touches the journal is deterministic on replay: it must be called in the
same order with the same arguments on every attempt, or the attempt fails with a journal
mismatch (570). Do not branch on wall-clock time or randomness outside `ctx.run`,
`ctx.random()`, `ctx.uuid()` and `ctx.time()`.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from random import Random
from typing import Any, Generic, ParamSpec, TypeVar
from uuid import UUID

from perdure.sdk.serde import DefaultSerde, Serde

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
P = ParamSpec("P")

HandlerType = Callable[[Any, I], Awaitable[O]] | Callable[[Any], Awaitable[O]]
RunAction = Callable[..., Coroutine[Any, Any, T]] | Callable[..., T]

DEFAULT_SERDE: DefaultSerde[Any] = DefaultSerde()
"""The default serde argument: it picks the encoding from the type hint of each call."""


@dataclass
class RunOptions(Generic[T]):
    """How `ctx.run_typed` serialises the result and retries the action."""

    serde: Serde[T] = field(default_factory=DefaultSerde)
    """Serde of the result; the default one picks the encoding from `type_hint`."""
    type_hint: type[T] | None = None
    """Type of the result; inferred from the action's return annotation when None."""
    max_attempts: int | None = None
    """Attempts (the first included) before giving up; then `ctx.run` raises TerminalError."""
    max_duration: timedelta | None = None
    """Time spent retrying before giving up; then `ctx.run` raises TerminalError."""
    initial_retry_interval: timedelta | None = None
    """Delay before the first retry. Defaults to 50 ms when any retry field is set; when none
    is, failures are retried with the invocation's retry policy (forever)."""
    max_retry_interval: timedelta | None = None
    """Upper bound of the delay between retries (default 10 s)."""
    retry_interval_factor: float | None = None
    """Growth factor of the delay between retries (default 2)."""
    max_retry_duration: timedelta | None = None
    """Deprecated alias of `max_duration`."""
    timeout: timedelta | None = None
    """perdure extension: an attempt of the step that runs longer fails (retryably, then as
    the retry fields above say). A sync action keeps running in its thread; its late result
    is dropped."""


class RestateDurableFuture(Generic[T], Awaitable[T], abc.ABC):
    """The eventual result of a journaled operation. Await it (once or many times)."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]: ...


class RestateDurableCallFuture(RestateDurableFuture[T]):
    """The eventual result of a call to another handler."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The id of the invocation the call created."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the called invocation (``ctx.cancel_invocation(await f.invocation_id())``)."""


class RestateDurableSleepFuture(RestateDurableFuture[None]):
    """A durable timer: survives restarts, fires at the same wall-clock time."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, None]: ...


class SendHandle(abc.ABC):
    """A one-way call (send) already journaled."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The id of the invocation the send created."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the invocation the send created."""


class AttemptFinishedEvent(abc.ABC):
    """Set when the current attempt is over (completed, suspended, failed or disconnected).

    Use it to abandon attempt-bound work, e.g. a request started inside `ctx.run`.
    """

    @abc.abstractmethod
    def is_set(self) -> bool: ...

    @abc.abstractmethod
    async def wait(self) -> None: ...


@dataclass
class Request:
    """The invocation as the handler sees it.

    `headers` are the invocation's (journaled) headers; `attempt_headers` are the HTTP headers
    of this attempt only (not journaled: they may differ between attempts).
    """

    id: str
    headers: dict[str, str]
    attempt_headers: dict[str, str]
    body: bytes
    attempt_finished_event: AttemptFinishedEvent


class KeyValueStore(abc.ABC):
    """The state of a virtual object or workflow (one store per key)."""

    @abc.abstractmethod
    def get(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> Awaitable[T | None]:
        """The value of `name`, or None if it is not set."""

    @abc.abstractmethod
    def state_keys(self) -> Awaitable[list[str]]:
        """The names of all set values."""

    @abc.abstractmethod
    def set(self, name: str, value: T, serde: Serde[T] = DEFAULT_SERDE) -> None:
        """Set `name` to `value` (journaled; applied when the invocation completes)."""

    @abc.abstractmethod
    def clear(self, name: str) -> None: ...

    @abc.abstractmethod
    def clear_all(self) -> None: ...


class Context(abc.ABC):
    """The context of one invocation of any handler."""

    @abc.abstractmethod
    def request(self) -> Request: ...

    def heartbeat(self) -> None:
        """perdure extension: tell the server that a long `ctx.run` step is still working,
        so that its inactivity and abort timeouts start over. Call it from inside the step
        (from any thread). On a server that does not understand heartbeats (restate-server)
        it does nothing."""
        return None

    @abc.abstractmethod
    def random(self) -> Random:
        """A `Random` seeded by the invocation: the same numbers on every attempt."""

    @abc.abstractmethod
    def uuid(self) -> UUID:
        """A UUID (v4 layout) from `random()`: stable across attempts."""

    @abc.abstractmethod
    def time(self) -> RestateDurableFuture[float]:
        """`time.time()`, journaled: the same value on every attempt."""

    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DEFAULT_SERDE,
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        """Deprecated form of `run_typed`."""

    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]] | Callable[P, T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]:
        """Run `action(*args, **kwargs)` once and journal its result.

        On replay the journaled result is returned and the action is not called again. A
        `TerminalError` raised by the action is journaled too; any other exception is retried
        according to `options`.
        """

    @abc.abstractmethod
    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture: ...

    @abc.abstractmethod
    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]: ...

    @abc.abstractmethod
    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle: ...

    @abc.abstractmethod
    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]: ...

    @abc.abstractmethod
    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle: ...

    @abc.abstractmethod
    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]: ...

    @abc.abstractmethod
    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle: ...

    @abc.abstractmethod
    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]: ...

    @abc.abstractmethod
    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle: ...

    @abc.abstractmethod
    def awakeable(
        self, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> tuple[str, RestateDurableFuture[T]]:
        """An id to hand to another system, and the future it completes."""

    @abc.abstractmethod
    def resolve_awakeable(self, name: str, value: I, serde: Serde[I] = DEFAULT_SERDE) -> None: ...

    @abc.abstractmethod
    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        """Complete the awakeable `name` with a failure: its awaiter raises TerminalError."""

    @abc.abstractmethod
    def cancel_invocation(self, invocation_id: str) -> None: ...

    @abc.abstractmethod
    def attach_invocation(
        self, invocation_id: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T]:
        """Wait for another invocation to complete and return its result."""


class ObjectContext(Context, KeyValueStore):
    """Context of an exclusive virtual-object handler: reads and writes state."""

    @abc.abstractmethod
    def key(self) -> str: ...


class ObjectSharedContext(Context):
    """Context of a shared virtual-object handler: reads state only."""

    @abc.abstractmethod
    def key(self) -> str: ...

    @abc.abstractmethod
    def get(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T | None]: ...

    @abc.abstractmethod
    def state_keys(self) -> Awaitable[list[str]]: ...


class DurablePromise(Generic[T]):
    """A named promise of a workflow, shared by its run handler and its shared handlers.

    Once resolved or rejected it never changes: a second completion fails with a 409
    `TerminalError`. It outlives the run handler for the workflow's retention time.
    """

    def __init__(self, name: str, serde: Serde[T] = DEFAULT_SERDE) -> None:
        self.name = name
        self.serde = serde

    @abc.abstractmethod
    def resolve(self, value: T) -> Awaitable[None]: ...

    @abc.abstractmethod
    def reject(self, message: str, code: int = 500) -> Awaitable[None]: ...

    @abc.abstractmethod
    def peek(self) -> Awaitable[T | None]:
        """The value if the promise is resolved, None if not yet (raises if rejected)."""

    @abc.abstractmethod
    def value(self) -> RestateDurableFuture[T]:
        """Wait until the promise is completed; its value (raises TerminalError if rejected)."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]: ...


class WorkflowContext(ObjectContext):
    """Context of a workflow's run handler."""

    @abc.abstractmethod
    def promise(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> DurablePromise[T]: ...


class WorkflowSharedContext(ObjectSharedContext):
    """Context of a workflow's shared handlers."""

    @abc.abstractmethod
    def promise(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> DurablePromise[T]: ...
