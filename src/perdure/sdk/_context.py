"""The contexts and durable futures of `perdure.sdk.context`, implemented over an `Attempt`.

A durable future wraps a machine handle and a fetch coroutine; the coroutine runs at most once
(in its own task, so several awaiters share it) when the future is first awaited.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import traceback
import typing
from collections.abc import Callable, Coroutine, Generator
from datetime import timedelta
from random import Random
from typing import Any, TypeVar
from uuid import UUID

from perdure.sdk import _clock, _tracing, run_retry
from perdure.sdk._attempt import Attempt
from perdure.sdk._core.notifications import CallInvocationId, Failure, NotificationValue, StateKeys
from perdure.sdk._core.progress import Input
from perdure.sdk._step import run_step_body
from perdure.sdk.context import (
    DEFAULT_SERDE,
    AttemptFinishedEvent,
    DurablePromise,
    HandlerType,
    Request,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunAction,
    RunOptions,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from perdure.sdk.errors import RetryableError, SdkInternalBaseException, TerminalError
from perdure.sdk.handler import handler_spec_of
from perdure.sdk.serde import BytesSerde, DefaultSerde, Serde

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741

Fetch = Callable[[], Coroutine[Any, Any, T]]


class _Once(typing.Generic[T]):
    """Runs a coroutine at most once, in a task, for any number of awaiters."""

    def __init__(self, fetch: Fetch[T]) -> None:
        self._fetch = fetch
        self._task: asyncio.Task[T] | None = None

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def get(self) -> T:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._fetch())
        return await self._task


class DurableFuture(RestateDurableFuture[T]):
    def __init__(self, attempt: Attempt, handle: int, fetch: Fetch[T]) -> None:
        self.attempt = attempt
        self.handle = handle
        self._once = _Once(fetch)

    def is_completed(self) -> bool:
        """Resolved already, or its result is in the machine (no await needed)."""
        return self._once.done() or self.attempt.machine.is_completed(self.handle)

    def __await__(self) -> Generator[Any, Any, T]:
        return self._once.get().__await__()


class DurableSleepFuture(RestateDurableSleepFuture, DurableFuture[None]):
    def __await__(self) -> Generator[Any, Any, None]:
        return DurableFuture.__await__(self)


class DurableCallFuture(RestateDurableCallFuture[T], DurableFuture[T]):
    def __init__(
        self, ctx: InvocationContext, handle: int, fetch: Fetch[T], id_handle: int
    ) -> None:
        DurableFuture.__init__(self, ctx.attempt, handle, fetch)
        self._ctx = ctx
        self._invocation_id = _Once(ctx.fetcher(id_handle, None))

    def __await__(self) -> Generator[Any, Any, T]:
        return DurableFuture.__await__(self)

    async def invocation_id(self) -> str:
        return typing.cast(str, await self._invocation_id.get())

    async def cancel_invocation(self) -> None:
        self._ctx.cancel_invocation(await self.invocation_id())


class _SendHandle(SendHandle):
    def __init__(self, ctx: InvocationContext, handle: int) -> None:
        self._ctx = ctx
        self._invocation_id = _Once(ctx.fetcher(handle, None))

    async def invocation_id(self) -> str:
        return typing.cast(str, await self._invocation_id.get())

    async def cancel_invocation(self) -> None:
        self._ctx.cancel_invocation(await self.invocation_id())


class _AttemptFinished(AttemptFinishedEvent):
    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class _Promise(DurablePromise[T]):
    def __init__(self, ctx: InvocationContext, name: str, serde: Serde[T]) -> None:
        super().__init__(name, serde)
        self._ctx = ctx

    def value(self) -> RestateDurableFuture[T]:
        handle = self._ctx.attempt.sys(self._ctx.machine.sys_get_promise, self.name)
        return typing.cast(RestateDurableFuture[T], self._ctx.future(handle, self.serde))

    def __await__(self) -> Generator[Any, Any, T]:
        return self.value().__await__()

    def peek(self) -> RestateDurableFuture[T | None]:
        handle = self._ctx.attempt.sys(self._ctx.machine.sys_peek_promise, self.name)
        return self._ctx.future(handle, self.serde)

    def resolve(self, value: T) -> RestateDurableFuture[None]:
        return self._complete(self.serde.serialize(value))

    def reject(self, message: str, code: int = 500) -> RestateDurableFuture[None]:
        return self._complete(Failure(code, message))

    def _complete(self, value: bytes | Failure) -> RestateDurableFuture[None]:
        handle = self._ctx.attempt.sys(self._ctx.machine.sys_complete_promise, self.name, value)
        return typing.cast(RestateDurableFuture[None], self._ctx.future(handle, None))


def _with_hint(serde: Serde[Any], type_hint: Any) -> Serde[Any]:
    if isinstance(serde, DefaultSerde) and type_hint is not None:
        return serde.with_hint(type_hint)
    return serde


def _return_hint(action: Callable[..., Any]) -> Any:
    """The action's return annotation, unwrapped from Optional; None when unknown."""
    annotations = getattr(action, "__annotations__", None)
    if isinstance(annotations, dict) and "return" not in annotations:
        return None  # a plain function or lambda without one: no signature to build
    try:
        hint = inspect.signature(action, eval_str=True).return_annotation
    except (TypeError, ValueError, NameError):
        return None
    if hint is inspect.Signature.empty:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return args[0] if len(args) == 1 else hint
    return hint


def _decode(value: NotificationValue, serde: Serde[Any] | None) -> Any:
    if isinstance(value, bytes):
        return value if serde is None else serde.deserialize(value)
    if isinstance(value, StateKeys):
        return list(value.keys)
    if isinstance(value, CallInvocationId):
        return value.invocation_id
    return None  # Void


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


class InvocationContext(WorkflowContext, WorkflowSharedContext):
    """Every context kind at once; the handler's type annotation decides what it uses."""

    def __init__(
        self, attempt: Attempt, invocation: Input, attempt_headers: dict[str, str]
    ) -> None:
        self.attempt = attempt
        self.machine = attempt.machine
        self.invocation = invocation
        self.attempt_headers = attempt_headers
        self._random = Random(invocation.random_seed)

    # -- Futures ------------------------------------------------------------------------------

    def fetcher(self, handle: int, serde: Serde[Any] | None) -> Fetch[Any]:
        async def fetch() -> Any:
            return _decode(await self.attempt.result(handle), serde)

        return fetch

    def future(self, handle: int, serde: Serde[Any] | None) -> DurableFuture[Any]:
        return DurableFuture(self.attempt, handle, self.fetcher(handle, serde))

    # -- Invocation ---------------------------------------------------------------------------

    def request(self) -> Request:
        return Request(
            id=self.invocation.invocation_id,
            headers=dict(self.invocation.headers),
            attempt_headers=self.attempt_headers,
            body=self.invocation.body,
            attempt_finished_event=_AttemptFinished(self.attempt.finished),
        )

    def heartbeat(self) -> None:
        self.attempt.heartbeat()

    def key(self) -> str:
        return self.invocation.key

    def random(self) -> Random:
        return self._random

    def uuid(self) -> UUID:
        return UUID(int=self._random.getrandbits(128), version=4)

    def time(self) -> RestateDurableFuture[float]:
        return self.run_typed("timestamp", _clock.now)

    # -- State --------------------------------------------------------------------------------

    def get(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T | None]:
        handle = self.attempt.sys(self.machine.sys_get_state, name)
        return self.future(handle, _with_hint(serde, type_hint))

    def state_keys(self) -> RestateDurableFuture[list[str]]:
        return self.future(self.attempt.sys(self.machine.sys_get_state_keys), None)

    def set(self, name: str, value: T, serde: Serde[T] = DEFAULT_SERDE) -> None:
        buffer = _with_hint(serde, type(value)).serialize(value)
        self.attempt.sys(self.machine.sys_set_state, name, buffer)

    def clear(self, name: str) -> None:
        self.attempt.sys(self.machine.sys_clear_state, name)

    def clear_all(self) -> None:
        self.attempt.sys(self.machine.sys_clear_all_state)

    def promise(
        self, name: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> DurablePromise[T]:
        return _Promise(self, name, _with_hint(serde, type_hint))

    # -- Side effects -------------------------------------------------------------------------

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
        options: RunOptions[T] = RunOptions(
            serde=serde,
            type_hint=type_hint,
            max_attempts=max_attempts,
            max_duration=max_retry_duration,
        )
        bound = functools.partial(action, *args) if args else action
        return self._run(name, bound, options, action)

    def run_typed(
        self,
        name: str,
        action: Callable[..., Coroutine[Any, Any, T]] | Callable[..., T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008
        /,
        *args: Any,
        **kwargs: Any,
    ) -> RestateDurableFuture[T]:
        return self._run(name, functools.partial(action, *args, **kwargs), options, action)

    def _run(
        self,
        name: str,
        action: Callable[[], Any],
        options: RunOptions[T],
        original: Callable[..., Any],
    ) -> RestateDurableFuture[T]:
        hint = options.type_hint if options.type_hint is not None else _return_hint(original)
        serde = _with_hint(options.serde, hint)
        run = self.attempt.sys(self.machine.sys_run, name)
        if not run.replayed:
            self.attempt.run_closures[run.handle] = functools.partial(
                self._execute, run.handle, name, action, serde, options
            )
        return typing.cast(RestateDurableFuture[T], self.future(run.handle, serde))

    async def _execute(
        self,
        handle: int,
        name: str,
        action: Callable[[], Any],
        serde: Serde[Any],
        options: RunOptions[Any],
    ) -> None:
        """Run a closure and propose its outcome (the driver awaits the server's ack)."""
        started = time.monotonic()
        max_duration = options.max_duration or options.max_retry_duration
        timeout_s = None if options.timeout is None else options.timeout.total_seconds()
        try:
            with _tracing.run_span(name) as span:
                try:
                    result = await run_step_body(name, action, timeout_s)
                except Exception as exc:
                    span.failed(exc)
                    raise
            self.machine.propose_run_completion(handle, bytes(serde.serialize(result)))
        except TerminalError as exc:
            metadata = tuple((exc.metadata or {}).items())
            self.machine.propose_run_completion(
                handle, Failure(exc.status_code, exc.message, metadata)
            )
        except (asyncio.CancelledError, SdkInternalBaseException):
            raise
        except RetryableError as exc:
            policy = run_retry.retryable_error_policy(
                retry_after_ms=None if exc.retry_after is None else _ms(exc.retry_after),
                max_attempts=options.max_attempts,
                max_duration_ms=None if max_duration is None else _ms(max_duration),
            )
            self._propose_failure(handle, exc, exc.status_code, exc.message, started, policy)
        except Exception as exc:
            policy = run_retry.run_options_policy(
                max_attempts=options.max_attempts,
                max_duration_ms=None if max_duration is None else _ms(max_duration),
                initial_retry_interval_ms=_opt_ms(options.initial_retry_interval),
                max_retry_interval_ms=_opt_ms(options.max_retry_interval),
                retry_interval_factor=options.retry_interval_factor,
            )
            self._propose_failure(handle, exc, 500, repr(exc), started, policy)

    def _propose_failure(
        self,
        handle: int,
        exc: BaseException,
        code: int,
        message: str,
        started: float,
        policy: run_retry.RunRetryPolicy,
    ) -> None:
        self.machine.propose_run_failure(
            handle,
            Failure(code, message),
            stacktrace="".join(traceback.format_exception(exc)),
            attempt_duration_ms=int((time.monotonic() - started) * 1000),
            policy=policy,
        )

    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        wake_up = int(_clock.now() * 1000) + _ms(delta)
        handle = self.attempt.sys(self.machine.sys_sleep, wake_up, name or "")
        return DurableSleepFuture(self.attempt, handle, self.fetcher(handle, None))

    # -- Calls --------------------------------------------------------------------------------

    def _call(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        output_serde: Serde[Any],
        key: str | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> DurableCallFuture[Any]:
        handles = self.attempt.sys(
            self.machine.sys_call,
            service,
            handler,
            parameter,
            key=key,
            idempotency_key=idempotency_key,
            headers=list((headers or {}).items()),
        )
        fetch = self.fetcher(handles.result_handle, output_serde)
        return DurableCallFuture(self, handles.result_handle, fetch, handles.invocation_id_handle)

    def _send(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        key: str | None,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        invoke_time = int(_clock.now() * 1000) + _ms(send_delay) if send_delay else 0
        handle = self.attempt.sys(
            self.machine.sys_send,
            service,
            handler,
            parameter,
            key=key,
            invoke_time_ms=invoke_time,
            idempotency_key=idempotency_key,
            headers=list((headers or {}).items()),
        )
        return _SendHandle(self, handle)

    def _typed_call(
        self, tpe: Any, key: str | None, arg: Any, ik: str | None, headers: dict[str, str] | None
    ) -> DurableCallFuture[Any]:
        spec = handler_spec_of(tpe)
        parameter = bytes(spec.input_serde.serialize(arg))
        return self._call(
            spec.service_name, spec.name, parameter, spec.output_serde, key, ik, headers
        )

    def _typed_send(
        self,
        tpe: Any,
        key: str | None,
        arg: Any,
        delay: timedelta | None,
        ik: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        spec = handler_spec_of(tpe)
        parameter = bytes(spec.input_serde.serialize(arg))
        return self._send(spec.service_name, spec.name, parameter, key, delay, ik, headers)

    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self._typed_call(tpe, None, arg, idempotency_key, headers)

    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send(tpe, None, arg, send_delay, idempotency_key, headers)

    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self._typed_call(tpe, key, arg, idempotency_key, headers)

    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send(tpe, key, arg, send_delay, idempotency_key, headers)

    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self._typed_call(tpe, key, arg, idempotency_key, headers)

    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._typed_send(tpe, key, arg, send_delay, idempotency_key, headers)

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        return self._call(service, handler, arg, BytesSerde(), key, idempotency_key, headers)

    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._send(service, handler, arg, key, send_delay, idempotency_key, headers)

    # -- Awakeables and other invocations -----------------------------------------------------

    def awakeable(
        self, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> tuple[str, RestateDurableFuture[T]]:
        awakeable_id, handle = self.attempt.sys(self.machine.sys_awakeable)
        return awakeable_id, self.future(handle, _with_hint(serde, type_hint))

    def resolve_awakeable(self, name: str, value: I, serde: Serde[I] = DEFAULT_SERDE) -> None:
        buffer = bytes(_with_hint(serde, type(value)).serialize(value))
        self.attempt.sys(self.machine.sys_complete_awakeable, name, buffer)

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        failure = Failure(failure_code, failure_message)
        self.attempt.sys(self.machine.sys_complete_awakeable, name, failure)

    def cancel_invocation(self, invocation_id: str) -> None:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        self.attempt.sys(self.machine.sys_cancel_invocation, invocation_id)

    def attach_invocation(
        self, invocation_id: str, serde: Serde[T] = DEFAULT_SERDE, type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T]:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        handle = self.attempt.sys(self.machine.sys_attach_invocation, invocation_id)
        return self.future(handle, _with_hint(serde, type_hint))


def _opt_ms(delta: timedelta | None) -> int | None:
    return None if delta is None else _ms(delta)
