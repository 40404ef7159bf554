"""What Service, VirtualObject and Workflow share: options, the constructor of the keyed
two, and turning a decorated function into a `HandlerSpec`.

The decorators return the user's function unchanged, with its spec attached
(`perdure.sdk.handler.attach_spec`), so it stays callable, typed, and usable as the
target of ``ctx.service_call(fn, ...)``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from perdure.protocol.manifest import HANDLER_NAME_RE, SERVICE_NAME_RE, Options, RetryPolicySpec
from perdure.sdk.flow import Rate, limits_metadata
from perdure.sdk.handler import (
    ContextManagerFactory,
    HandlerKind,
    HandlerSpec,
    ServiceType,
    attach_spec,
)
from perdure.sdk.retry_policy import InvocationRetryPolicy, to_millis
from perdure.sdk.serde import DefaultSerde, Serde

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def make_options(
    *,
    documentation: str | None = None,
    metadata: dict[str, str] | None = None,
    inactivity_timeout: timedelta | None = None,
    abort_timeout: timedelta | None = None,
    journal_retention: timedelta | None = None,
    idempotency_retention: timedelta | None = None,
    workflow_retention: timedelta | None = None,
    enable_lazy_state: bool | None = None,
    ingress_private: bool | None = None,
    invocation_retry_policy: InvocationRetryPolicy | None = None,
    flow: dict[str, str] | None = None,
) -> Options:
    """The manifest options of a service or handler, durations in milliseconds; `flow`:
    the metadata entry of its flow-control limits (`perdure.sdk.flow`)."""
    if invocation_retry_policy is not None and not isinstance(
        invocation_retry_policy, InvocationRetryPolicy
    ):
        raise TypeError("invocation_retry_policy must be an InvocationRetryPolicy")
    return Options(
        documentation=documentation,
        metadata={**(metadata or {}), **(flow or {})} or None,
        inactivity_timeout_ms=to_millis(inactivity_timeout, "inactivity_timeout"),
        abort_timeout_ms=to_millis(abort_timeout, "abort_timeout"),
        journal_retention_ms=to_millis(journal_retention, "journal_retention"),
        idempotency_retention_ms=to_millis(idempotency_retention, "idempotency_retention"),
        workflow_completion_retention_ms=to_millis(workflow_retention, "workflow_retention"),
        enable_lazy_state=enable_lazy_state,
        ingress_private=ingress_private,
        retry_policy=(
            invocation_retry_policy.to_spec() if invocation_retry_policy else RetryPolicySpec()
        ),
    )


class ServiceDefinition:
    """Base of `Service`, `VirtualObject` and `Workflow`: a name, options and handlers."""

    service_type: ClassVar[ServiceType]

    def __init__(
        self,
        name: str,
        options: Options,
        context_managers: Sequence[ContextManagerFactory] | None,
    ) -> None:
        if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
            raise ValueError(
                f"invalid service name {name!r}: use letters, digits, '.', '_' and '-', "
                "starting with a letter (or '_' and a letter or digit)"
            )
        self._name = name
        self.options = options
        self.context_managers: tuple[ContextManagerFactory, ...] = tuple(context_managers or ())
        self.handlers: dict[str, HandlerSpec] = {}

    @property
    def name(self) -> str:
        """The service name, as the server and its callers address it."""
        return self._name

    @property
    def description(self) -> str | None:
        return self.options.documentation

    @property
    def metadata(self) -> dict[str, str] | None:
        return self.options.metadata

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, handlers={list(self.handlers)})"

    def _decorator(
        self,
        *,
        name: str | None,
        kind: HandlerKind | None,
        accept: str,
        content_type: str,
        input_serde: Serde[Any] | None,
        output_serde: Serde[Any] | None,
        options: Options,
        context_managers: Sequence[ContextManagerFactory] | None,
    ) -> Callable[[F], F]:
        """The decorator that reads a handler's name, input and output types and docstring
        off its function, registers its `HandlerSpec` and attaches it to the function."""

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"a handler must be an async function, got {fn!r}")
            handler_name = name or getattr(fn, "__name__", None)
            if not handler_name or not HANDLER_NAME_RE.match(handler_name):
                raise ValueError(
                    f"invalid handler name {handler_name!r} in {self._name}: use letters, "
                    "digits and '_', starting with a letter (or '_' and a letter or digit)"
                )
            takes_input, input_hint, output_hint = _signature_of(fn, f"{self._name}/{handler_name}")
            handler_options = options
            if handler_options.documentation is None:
                handler_options = dataclasses.replace(options, documentation=inspect.getdoc(fn))
            spec = HandlerSpec(
                service_name=self._name,
                service_type=self.service_type,
                name=handler_name,
                kind=kind,
                fn=fn,
                takes_input=takes_input,
                input_serde=_serde_for(input_serde, input_hint),
                output_serde=_serde_for(output_serde, output_hint),
                accept=accept,
                content_type=content_type,
                input_type_hint=input_hint,
                output_type_hint=output_hint,
                options=handler_options,
                context_managers=self.context_managers + tuple(context_managers or ()),
            )
            self._check_new_handler(spec)
            self.handlers[spec.name] = spec
            attach_spec(fn, spec)
            return fn

        return register

    def _check_new_handler(self, spec: HandlerSpec) -> None:
        if spec.name in self.handlers:
            raise ValueError(f"handler {spec.name} already exists in {self._name}")


class KeyedDefinition(ServiceDefinition):
    """Base of `VirtualObject` and `Workflow`, the keyed services with state: one
    constructor, the arguments of `Service` plus `enable_lazy_state`."""

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: Sequence[ContextManagerFactory] | None = None,
        *,
        concurrency: int | None = None,
        rate: Rate | None = None,
        priority: int | None = None,
        limit_by: str | None = None,
    ) -> None:
        options = make_options(
            documentation=description,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            enable_lazy_state=enable_lazy_state,
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
            flow=limits_metadata(concurrency, rate, priority, limit_by),
        )
        super().__init__(name, options, invocation_context_managers)


def _serde_for(given: Serde[Any] | None, hint: Any) -> Serde[Any]:
    # An explicit serde wins, except a bare DefaultSerde(): restate-sdk treats that (its
    # default argument) as "pick from the type hint", and so do we.
    if given is None or (isinstance(given, DefaultSerde) and given.type_hint is None):
        return DefaultSerde(hint)
    return given


def _signature_of(fn: Callable[..., Any], where: str) -> tuple[bool, Any, Any]:
    """(takes_input, input type hint, output type hint); None for an absent hint."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError:
        # An annotation names something not importable at module level (a class local to
        # a function, say). The handler still works; it just gets untyped JSON.
        signature = inspect.signature(fn)
    params = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
    if not params:
        raise ValueError(f"handler {where} must take the context as its first parameter")
    required_extra = [p for p in params[2:] if p.default is inspect.Parameter.empty]
    if required_extra:
        raise ValueError(
            f"handler {where} takes (ctx) or (ctx, input); "
            f"it also requires {', '.join(p.name for p in required_extra)}"
        )
    takes_input = len(params) >= 2
    input_hint = _hint(params[1].annotation) if takes_input else None
    output_hint = _hint(signature.return_annotation)
    return takes_input, input_hint, output_hint


def _hint(annotation: Any) -> Any:
    if annotation is inspect.Signature.empty or annotation is type(None):
        return None
    if isinstance(annotation, str):  # unresolved forward reference
        return None
    return annotation
