"""Class-based service definitions, for callers that want their calls type-checked.

A restate-style definition (``greeter = Service("Greeter")`` plus ``@greeter.handler()``)
tells a type checker nothing about which handlers ``Greeter`` has. The same service written
as a class does, and still produces an ordinary `Service` / `VirtualObject` / `Workflow`
(its ``definition``) that ``perdure.app`` serves like any other::

    class Greeter(TypedService):            # service name: the class name, or name="..."
        @handler()
        async def greet(ctx: Context, name: str) -> str:
            return f"Hello {name}"

    app = perdure.app(services=[Greeter.definition])

The handler functions take the context first, exactly as in the restate style (no
``self``). Each becomes a `HandlerRef`: on the class it is the handler itself (callable,
and usable as ``ctx.service_call(Greeter.greet, ...)``); on a proxy that
``perdure.client`` made (``client.service(Greeter)``) it is a `BoundHandler` whose
parameters are the handler's input, so ``await client.service(Greeter).greet(1)`` is a
type error.

This module never imports the client at runtime: a deployment carries no HTTP client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, TypeVarTuple, overload

from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.handler import HANDLER_ATTRIBUTE, HandlerSpec, handler_spec_of
from perdure.sdk.object import VirtualObject
from perdure.sdk.service import Service
from perdure.sdk.workflow import Workflow

if TYPE_CHECKING:
    from perdure.client.handle import Output, SendHandle
    from perdure.client.proxy import BoundHandler

__all__ = ["HandlerRef", "TypedObject", "TypedService", "TypedWorkflow", "handler", "main"]

Ts = TypeVarTuple("Ts")
O = TypeVar("O")  # noqa: E741
O_co = TypeVar("O_co", covariant=True)

# Where a proxy keeps what its handlers are bound to (set by perdure.client, opaque here).
BINDER_ATTRIBUTE = "_perdure_binder"

# Names the typed bases use themselves; a handler attribute must not hide them.
_RESERVED = frozenset({"definition", "submit", "attach", "output", BINDER_ATTRIBUTE})


class HandlerRef(Generic[*Ts, O]):
    """A handler declared in a class-based definition.

    Read on the class, it is itself: call it like the function (``ctx`` first), or pass
    it where a handler reference is expected. Read on a client proxy, it is a
    `BoundHandler` taking the handler's input.
    """

    def __init__(
        self,
        fn: Callable[[Any, *Ts], Awaitable[O]],
        registrar: str,
        options: Mapping[str, Any],
    ) -> None:
        self.fn = fn
        self.registrar = registrar  # "handler" or "main": the definition method to call
        self.options = dict(options)
        self.attribute = getattr(fn, "__name__", "handler")
        self.__doc__ = getattr(fn, "__doc__", None)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    @property
    def spec(self) -> HandlerSpec:
        """The handler's spec; set once its class was created."""
        return handler_spec_of(self)

    @overload
    def __get__(self, instance: None, owner: type) -> HandlerRef[*Ts, O]: ...

    @overload
    def __get__(self, instance: TypedDefinition, owner: type) -> BoundHandler[*Ts, O]: ...

    def __get__(self, instance: TypedDefinition | None, owner: type) -> Any:
        if instance is None:
            return self
        binder = instance.__dict__.get(BINDER_ATTRIBUTE)
        if binder is None:
            raise TypeError(
                f"{owner.__name__} is a service definition, not a client; call its handlers "
                f"through a proxy, e.g. client.service({owner.__name__}).{self.attribute}(...)"
            )
        return binder.bind(self.spec)

    def __call__(self, ctx: Any, *args: *Ts) -> Awaitable[O]:
        return self.fn(ctx, *args)

    def __repr__(self) -> str:
        return f"<handler {self.attribute} of a class-based definition>"


class _Decorator:
    """What ``@handler(...)`` / ``@main(...)`` return: turns the function into a HandlerRef."""

    def __init__(self, registrar: str, options: Mapping[str, Any]) -> None:
        self._registrar = registrar
        self._options = options

    def __call__(self, fn: Callable[[Any, *Ts], Awaitable[O]]) -> HandlerRef[*Ts, O]:
        return HandlerRef(fn, self._registrar, self._options)


def handler(**options: Any) -> _Decorator:
    """Declare ``async def fn(ctx[, input]) -> output`` a handler of the class.

    The keyword arguments are those of the definition's own ``handler`` method
    (`Service.handler`, `VirtualObject.handler` (``kind="shared"`` there), or
    `Workflow.handler`, which declares a shared workflow handler); they are checked when
    the class is created.
    """
    return _Decorator("handler", options)


def main(**options: Any) -> _Decorator:
    """Declare the main handler of a `TypedWorkflow`: the keyword arguments of
    `Workflow.main`. Name it ``run`` (clients call the main handler by that name, and the
    typed ``submit``/``attach``/``output`` of a workflow proxy look for it)."""
    return _Decorator("main", options)


class TypedDefinition:
    """Base of the class-based definitions; subclass `TypedService`, `TypedObject` or
    `TypedWorkflow`, not this.

    Class keyword arguments: ``name`` (the service name; default the class name) and the
    keyword arguments of the definition's constructor (``description``,
    ``inactivity_timeout``, ...).
    """

    definition: ClassVar[ServiceDefinition]
    # The definition class (Service, ...), as a factory: their constructors differ.
    _definition_type: ClassVar[Callable[..., ServiceDefinition]]
    _is_base: ClassVar[bool] = True

    def __init_subclass__(cls, /, name: str | None = None, **options: Any) -> None:
        super().__init_subclass__()
        if cls.__dict__.get("_is_base", False):
            return
        cls._is_base = False
        definition = cls._definition_type(name or cls.__name__, **options)
        for attribute, ref in list(cls.__dict__.items()):
            if not isinstance(ref, HandlerRef):
                continue
            if attribute in _RESERVED:
                raise ValueError(
                    f"{cls.__name__}.{attribute}: that attribute is reserved for proxies; "
                    f"name the function differently and pass name={attribute!r} to the decorator"
                )
            register = getattr(definition, ref.registrar, None)
            if register is None:
                raise TypeError(
                    f"{cls.__name__}.{attribute}: @{ref.registrar}() is not available on a "
                    f"{type(definition).__name__}"
                )
            register(**ref.options)(ref.fn)
            # The spec now hangs off the function; hang it off the reference too, so that
            # handler_spec_of(Greeter.greet) (ctx.service_call, the client) finds it.
            setattr(ref, HANDLER_ATTRIBUTE, handler_spec_of(ref.fn))
        cls.definition = definition


class TypedService(TypedDefinition):
    """A class-based `Service`; ``definition`` is the `Service` it builds."""

    definition: ClassVar[Service]
    _definition_type = Service
    _is_base = True


class TypedObject(TypedDefinition):
    """A class-based `VirtualObject`; ``definition`` is the `VirtualObject` it builds."""

    definition: ClassVar[VirtualObject]
    _definition_type = VirtualObject
    _is_base = True


class _HasRun(Protocol[*Ts, O_co]):
    """A workflow proxy whose main handler is ``run`` (what the typed helpers need)."""

    @property
    def run(self) -> BoundHandler[*Ts, O_co]: ...


class TypedWorkflow(TypedDefinition):
    """A class-based `Workflow`; ``definition`` is the `Workflow` it builds.

    On a proxy (``client.workflow(SignUp, key)``) it adds ``submit`` (start the run once
    per key), ``attach`` (wait for its result) and ``output`` (its result if done), typed
    after the main handler ``run``.
    """

    definition: ClassVar[Workflow]
    _definition_type = Workflow
    _is_base = True

    def submit(
        self: _HasRun[*Ts, O],
        *args: *Ts,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[SendHandle[O]]:
        """Start the workflow run for this key (``POST /{wf}/{key}/run/send``); a second
        submit for the same key returns the same invocation, status PreviouslyAccepted."""
        return _binder(self).submit(args, delay=delay, headers=headers)  # type: ignore[no-any-return]

    def attach(self: _HasRun[*Ts, O]) -> Awaitable[O]:
        """Wait for the run of this key to finish; its result, or IngressError."""
        return _binder(self).attach()  # type: ignore[no-any-return]

    def output(self: _HasRun[*Ts, O]) -> Awaitable[Output[O]]:
        """The run's result if it finished (``ready``), without waiting."""
        return _binder(self).output()  # type: ignore[no-any-return]


def _binder(proxy: object) -> Any:
    binder = proxy.__dict__.get(BINDER_ATTRIBUTE)
    if binder is None:
        raise TypeError(
            f"{type(proxy).__name__} is a workflow definition, not a client; use "
            f"client.workflow({type(proxy).__name__}, key)"
        )
    return binder
