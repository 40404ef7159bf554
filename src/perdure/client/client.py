"""`connect` and `Client`: the entry points of the ingress client.

The client speaks the ingress API every official Restate client uses (the unversioned
paths: ``/{service}[/{key}]/{handler}[/send]``, ``/restate/invocation/{id}/attach``,
``/restate/workflow/{wf}/{key}/attach|output``, ``/restate/a/{id}/resolve|reject``), so
it works against perdure's server and restate-server alike.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar, TypeVarTuple, cast, overload
from urllib.parse import quote

import httpx

from perdure.client._http import IngressHttp
from perdure.client.handle import InvocationHandle, SendHandle
from perdure.client.proxy import (
    Binder,
    BoundHandler,
    ServiceProxy,
    WorkflowProxy,
    decode_output,
    encode_value,
)
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.handler import handler_spec_of
from perdure.sdk.object import VirtualObject
from perdure.sdk.serde import Serde
from perdure.sdk.service import Service
from perdure.sdk.typed import (
    BINDER_ATTRIBUTE,
    TypedDefinition,
    TypedObject,
    TypedService,
    TypedWorkflow,
)
from perdure.sdk.workflow import Workflow

Ts = TypeVarTuple("Ts")
O = TypeVar("O")  # noqa: E741
S = TypeVar("S", bound=TypedService)
VO = TypeVar("VO", bound=TypedObject)
W = TypeVar("W", bound=TypedWorkflow)

DEFAULT_CONNECT_TIMEOUT = 10.0


def connect(
    url: str,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Client:
    """A client of the ingress at `url` (e.g. ``http://127.0.0.1:8080``).

    Args:
        url: The ingress base URL; a path prefix (behind a proxy) is kept.
        headers: Sent with every request (authentication, say); per-call headers add to
            them.
        timeout: Seconds to wait for any one response; None (the default) waits as long
            as the handler runs, as calls and ``attach`` are meant to. Connecting is
            bounded separately (10 s).
        transport: An httpx transport to use instead of the network (an in-process ASGI
            app, for instance).

    Use it as ``async with connect(url) as client:``, or call ``await client.aclose()``.
    """
    http = httpx.AsyncClient(
        base_url=url,
        headers=dict(headers or {}),
        timeout=httpx.Timeout(
            timeout,
            connect=DEFAULT_CONNECT_TIMEOUT if timeout is None else min(timeout, 10.0),
        ),
        transport=transport,
    )
    return Client(http)


class Client:
    """An ingress client. Proxies (`service`, `object`, `workflow`) address handlers by
    attribute; `call`/`send` take a handler reference instead; `invocation` attaches to an
    invocation by id; `resolve_awakeable`/`reject_awakeable` complete awakeables.

    Every failure is an `IngressError`.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._ingress = IngressHttp(http)

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    # -- proxies -----------------------------------------------------------------------

    @overload
    def service(self, definition: type[S]) -> S: ...
    @overload
    def service(self, definition: Service) -> ServiceProxy: ...
    def service(self, definition: type[TypedService] | Service) -> TypedService | ServiceProxy:
        """A proxy of a service: ``await client.service(Greeter).greet("Ann")``."""
        proxy: TypedService | ServiceProxy = self._proxy(definition, None, TypedService, Service)
        return proxy

    @overload
    def object(self, definition: type[VO], key: str) -> VO: ...
    @overload
    def object(self, definition: VirtualObject, key: str) -> ServiceProxy: ...
    def object(
        self, definition: type[TypedObject] | VirtualObject, key: str
    ) -> TypedObject | ServiceProxy:
        """A proxy of one virtual object: ``await client.object(Counter, "k").add(1)``."""
        proxy: TypedObject | ServiceProxy = self._proxy(definition, key, TypedObject, VirtualObject)
        return proxy

    @overload
    def workflow(self, definition: type[W], key: str) -> W: ...
    @overload
    def workflow(self, definition: Workflow, key: str) -> WorkflowProxy: ...
    def workflow(
        self, definition: type[TypedWorkflow] | Workflow, key: str
    ) -> TypedWorkflow | WorkflowProxy:
        """A proxy of one workflow instance: ``submit``, ``attach``, ``output``, and its
        shared handlers by attribute."""
        proxy: TypedWorkflow | WorkflowProxy = self._proxy(definition, key, TypedWorkflow, Workflow)
        return proxy

    def _proxy(
        self,
        definition: type[TypedDefinition] | ServiceDefinition,
        key: str | None,
        typed_base: type[TypedDefinition],
        plain_type: type[ServiceDefinition],
    ) -> Any:
        if key is not None and not isinstance(key, str):
            raise TypeError(f"the key must be a string, got {key!r}")
        if isinstance(definition, type) and issubclass(definition, typed_base):
            # An instance of the definition class that is never initialised: its handler
            # attributes resolve through the binder (perdure.sdk.typed.HandlerRef.__get__).
            proxy = builtins.object.__new__(definition)
            builtins.object.__setattr__(
                proxy, BINDER_ATTRIBUTE, Binder(self._ingress, definition.definition, key)
            )
            return proxy
        if isinstance(definition, plain_type):
            binder = Binder(self._ingress, definition, key)
            if isinstance(definition, Workflow):
                return WorkflowProxy(binder)
            return ServiceProxy(binder)
        raise TypeError(
            f"expected a {plain_type.__name__} or a subclass of {typed_base.__name__}, "
            f"got {definition!r}"
        )

    # -- by handler reference ----------------------------------------------------------

    async def call(
        self,
        handler: Callable[[Any, *Ts], Awaitable[O]],
        /,
        *args: *Ts,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O:
        """Call a handler given by reference (a restate-style decorated function, or
        ``Greeter.greet`` of a class-based definition) and wait for its result.
        `key` is required for object and workflow handlers."""
        bound = self._bind(handler, key)
        return cast(O, await bound(*args, idempotency_key=idempotency_key, headers=headers))

    async def send(
        self,
        handler: Callable[[Any, *Ts], Awaitable[O]],
        /,
        *args: *Ts,
        key: str | None = None,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SendHandle[O]:
        """Send to a handler given by reference; the handle attaches to its result."""
        bound = self._bind(handler, key)
        handle = await bound.send(
            *args, delay=delay, idempotency_key=idempotency_key, headers=headers
        )
        return cast(SendHandle[O], handle)

    def _bind(
        self, handler: Callable[..., Awaitable[Any]], key: str | None
    ) -> BoundHandler[*tuple[Any, ...], Any]:
        return BoundHandler(self._ingress, handler_spec_of(handler), key)

    # -- invocations and awakeables ----------------------------------------------------

    @overload
    def invocation(self, invocation_id: str) -> InvocationHandle[Any]: ...
    @overload
    def invocation(
        self, invocation_id: str, handler: Callable[[Any, *Ts], Awaitable[O]]
    ) -> InvocationHandle[O]: ...
    def invocation(
        self, invocation_id: str, handler: Callable[..., Awaitable[Any]] | None = None
    ) -> InvocationHandle[Any]:
        """A handle on the invocation `invocation_id` (``inv_1…``), to attach to or peek at.

        Given the `handler` it runs, the result is decoded with the handler's output serde;
        otherwise JSON results are parsed and anything else comes back as bytes.
        """
        if not invocation_id.startswith("inv_"):
            raise ValueError(f"not an invocation id: {invocation_id!r} (they start with inv_)")
        spec = handler_spec_of(handler) if handler is not None else None
        return InvocationHandle(
            invocation_id,
            ingress=self._ingress,
            path=f"/restate/invocation/{quote(invocation_id, safe='')}",
            decode=lambda response: decode_output(spec, response),
        )

    async def resolve_awakeable(
        self, awakeable_id: str, value: Any = None, *, serde: Serde[Any] | None = None
    ) -> None:
        """Complete the awakeable `awakeable_id` with `value` (JSON unless `serde`)."""
        body = encode_value(value, serde) if value is not None or serde is not None else b""
        headers = {"content-type": "application/json"} if serde is None and body else {}
        await self._ingress.request(
            "POST",
            f"/restate/a/{quote(awakeable_id, safe='')}/resolve",
            content=body,
            headers=headers,
        )

    async def reject_awakeable(self, awakeable_id: str, reason: str) -> None:
        """Fail the awakeable `awakeable_id`: the handler awaiting it gets a TerminalError
        with message `reason` (code 500)."""
        await self._ingress.request(
            "POST",
            f"/restate/a/{quote(awakeable_id, safe='')}/reject",
            content=reason.encode(),
            headers={"content-type": "text/plain"},
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<perdure.client.Client {self.url}>"
