"""Handlers bound to a target (service, or object/workflow key), ready to call or send.

A `BoundHandler` is what ``client.service(Greeter).greet`` is: calling it waits for the
result (``POST /Greeter/greet``), ``.send(...)`` returns a `SendHandle` at once
(``POST /Greeter/greet/send``). Input and output go through the handler's serdes, so the
bytes are exactly what the SDK serving the handler reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, TypeVarTuple, cast
from urllib.parse import quote

import httpx

from perdure.client._http import IngressHttp
from perdure.client.errors import IngressError
from perdure.client.handle import InvocationHandle, Output, SendHandle, SendStatus
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.handler import HandlerSpec
from perdure.sdk.serde import Serde

Ts = TypeVarTuple("Ts")
O_co = TypeVar("O_co", covariant=True)


class BoundHandler(Generic[*Ts, O_co]):
    """One handler of one target. ``await h(x)`` calls it, ``await h.send(x)`` sends.

    Call options: ``idempotency_key`` (the same key within the retention returns the
    first result instead of running again) and ``headers`` (passed on to the handler,
    ``ctx.request().headers``). Sends also take ``delay`` (run no earlier than that).
    """

    def __init__(self, ingress: IngressHttp, spec: HandlerSpec, key: str | None) -> None:
        if spec.service_type == "SERVICE":
            if key is not None:
                raise ValueError(f"{spec.service_name} is a service: its handlers take no key")
        elif key is None:
            raise ValueError(f"{spec.service_name} is keyed: give the key of the object/workflow")
        self._ingress = ingress
        self.spec = spec
        self.key = key

    @property
    def path(self) -> str:
        """The ingress path of the handler, ``/{service}[/{key}]/{handler}``."""
        if self.key is None:
            return f"/{self.spec.service_name}/{self.spec.name}"
        return f"/{self.spec.service_name}/{quote(self.key, safe='')}/{self.spec.name}"

    async def __call__(
        self,
        *args: *Ts,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> O_co:
        body, request_headers = self._request(args, idempotency_key, headers)
        response = await self._ingress.request(
            "POST", self.path, content=body, headers=request_headers
        )
        return cast(O_co, decode_output(self.spec, response))

    async def send(
        self,
        *args: *Ts,
        delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SendHandle[O_co]:
        body, request_headers = self._request(args, idempotency_key, headers)
        params = {"delay": delay_param(delay)} if delay is not None else None
        response = await self._ingress.request(
            "POST", f"{self.path}/send", content=body, headers=request_headers, params=params
        )
        invocation_id, status, execution_time = parse_send_response(response)
        if self.spec.kind == "workflow":
            # The run of a workflow is also addressable by key: the path every client uses.
            path = f"/restate/workflow/{self.spec.service_name}/{quote(self.key or '', safe='')}"
        else:
            path = f"/restate/invocation/{invocation_id}"
        return SendHandle(
            invocation_id,
            status,
            execution_time=execution_time,
            ingress=self._ingress,
            path=path,
            decode=self._decode,
        )

    def _decode(self, response: httpx.Response) -> O_co:
        return cast(O_co, decode_output(self.spec, response))

    def _request(
        self,
        args: tuple[Any, ...],
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[bytes | None, dict[str, str]]:
        if len(args) > 1:
            raise TypeError(f"{self.spec.name} takes at most one input, got {len(args)}")
        request_headers = dict(headers or {})
        if idempotency_key is not None:
            request_headers["idempotency-key"] = idempotency_key
        body = self.spec.input_serde.serialize(args[0]) if args else b""
        if not body:
            # No content-type either: the ingress accepts "no body and no content type"
            # for every handler whose input is optional (all of the Python SDK's).
            return None, request_headers
        request_headers.setdefault("content-type", request_content_type(self.spec.accept))
        return body, request_headers

    def __repr__(self) -> str:
        return f"<BoundHandler {self.path}>"


class Binder:
    """What a typed proxy's handlers are bound to: the ingress, a definition, a key.

    `perdure.sdk.typed.HandlerRef.__get__` calls `bind`; `TypedWorkflow.submit`,
    `attach` and `output` call the methods of the same names.
    """

    def __init__(
        self, ingress: IngressHttp, definition: ServiceDefinition, key: str | None
    ) -> None:
        self.ingress = ingress
        self.definition = definition
        self.key = key

    def bind(self, spec: HandlerSpec) -> BoundHandler[*tuple[Any, ...], Any]:
        if spec.service_name != self.definition.name:
            raise ValueError(f"{spec.name} is a handler of {spec.service_name}, not of this proxy")
        return BoundHandler(self.ingress, spec, self.key)

    def handler(self, name: str) -> BoundHandler[*tuple[Any, ...], Any]:
        try:
            spec = self.definition.handlers[name]
        except KeyError:
            raise AttributeError(
                f"{self.definition.name} has no handler {name!r}; it has "
                f"{', '.join(sorted(self.definition.handlers)) or 'none'}"
            ) from None
        return self.bind(spec)

    def main_handler(self) -> BoundHandler[*tuple[Any, ...], Any]:
        for spec in self.definition.handlers.values():
            if spec.kind == "workflow":
                return self.bind(spec)
        raise TypeError(f"{self.definition.name} has no main handler (a workflow has one)")

    async def submit(
        self,
        args: tuple[Any, ...],
        *,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SendHandle[Any]:
        return await self.main_handler().send(*args, delay=delay, headers=headers)

    def workflow_handle(self) -> InvocationHandle[Any]:
        main = self.main_handler()
        return InvocationHandle(
            None,
            ingress=self.ingress,
            path=f"/restate/workflow/{self.definition.name}/{quote(self.key or '', safe='')}",
            decode=lambda response: decode_output(main.spec, response),
        )

    async def attach(self) -> Any:
        return await self.workflow_handle().attach()

    async def output(self) -> Output[Any]:
        return await self.workflow_handle().output()


class ServiceProxy:
    """A proxy for a restate-style definition (``Service("Greeter")``): handlers by
    attribute, checked at runtime only. Class-based definitions (`perdure.sdk.typed`)
    give proxies whose calls a type checker verifies."""

    def __init__(self, binder: Binder) -> None:
        self._binder = binder

    def __getattr__(self, name: str) -> BoundHandler[*tuple[Any, ...], Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._binder.handler(name)

    def __repr__(self) -> str:
        key = f", key={self._binder.key!r}" if self._binder.key is not None else ""
        return f"<{type(self).__name__} {self._binder.definition.name}{key}>"


class WorkflowProxy(ServiceProxy):
    """`ServiceProxy` for a restate-style `Workflow`, plus submit/attach/output of the run."""

    async def submit(
        self,
        *args: Any,
        delay: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SendHandle[Any]:
        return await self._binder.submit(args, delay=delay, headers=headers)

    async def attach(self) -> Any:
        return await self._binder.attach()

    async def output(self) -> Output[Any]:
        return await self._binder.output()


def decode_output(spec: HandlerSpec | None, response: httpx.Response) -> Any:
    """The handler's result from a 200 response: its output serde, or (no spec) JSON when
    the response says so and raw bytes otherwise."""
    if spec is not None:
        return spec.output_serde.deserialize(response.content)
    return decode_untyped(response)


def decode_untyped(response: httpx.Response) -> Any:
    if not response.content:
        return None
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower().endswith("json"):
        return json.loads(response.content)
    return response.content


def encode_value(value: Any, serde: Serde[Any] | None) -> bytes:
    if serde is not None:
        return serde.serialize(value)
    return json.dumps(value, separators=(",", ":")).encode()


def request_content_type(accept: str) -> str:
    """The content type to send for a handler accepting `accept` (maybe a wildcard)."""
    main = accept.split(";")[0].strip()
    if main in ("", "*/*"):
        return "application/octet-stream"
    if main.endswith("/*"):
        return main[:-1] + "octet-stream"
    return accept


def delay_param(delay: timedelta) -> str:
    # With an explicit unit: restate-server rejects a bare number (400).
    millis = delay // timedelta(milliseconds=1)
    if millis < 0:
        raise ValueError(f"delay must not be negative, got {delay}")
    return f"{millis}ms"


def parse_send_response(response: httpx.Response) -> tuple[str, SendStatus, datetime | None]:
    """(invocation id, status, execution time) from ``{"invocationId", "status", ...}``."""
    try:
        body = response.json()
        invocation_id = body["invocationId"]
        status = body.get("status", "Accepted")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IngressError(
            f"the ingress accepted the send but its answer is not understood: {response.text!r}",
            status=response.status_code,
            invocation_id=response.headers.get("x-restate-id"),
        ) from None
    execution_time = None
    raw_time = body.get("executionTime")
    if isinstance(raw_time, str):
        try:
            execution_time = datetime.fromisoformat(raw_time)
        except ValueError:
            execution_time = None
    if status not in ("Accepted", "PreviouslyAccepted"):
        status = "Accepted"
    return str(invocation_id), cast(SendStatus, status), execution_time
