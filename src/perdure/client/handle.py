"""Handles on invocations that are (or were) running: attach to wait for the result,
output to peek at it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, Literal, TypeVar, cast

import httpx

from perdure.client._http import IngressHttp
from perdure.client.errors import NotReadyError

O_co = TypeVar("O_co", covariant=True)

SendStatus = Literal["Accepted", "PreviouslyAccepted"]

Decoder = Callable[[httpx.Response], O_co]

_UNSET = object()


class Output(Generic[O_co]):
    """What ``output()`` saw: the result if the invocation completed (``ready``), else
    nothing yet (the ingress answered 470)."""

    __slots__ = ("_value", "ready")

    def __init__(self, ready: bool, value: object = _UNSET) -> None:
        self.ready = ready
        self._value = value

    @property
    def value(self) -> O_co:
        """The result; NotReadyError when the invocation has not completed."""
        if not self.ready:
            raise NotReadyError(
                "the invocation exists but has not completed yet; attach() waits for it",
                status=470,
            )
        return cast(O_co, self._value)

    def __repr__(self) -> str:
        return f"Output(ready=True, value={self._value!r})" if self.ready else "Output(ready=False)"


class InvocationHandle(Generic[O_co]):
    """One invocation, addressed by its id (or, for a workflow run, by workflow and key).

    `attach` waits for the result; `output` returns at once. Both raise IngressError when
    the invocation failed (``source == "invocation"``) or is unknown to the server (404:
    never existed, or no longer retained).
    """

    def __init__(
        self,
        invocation_id: str | None,
        *,
        ingress: IngressHttp,
        path: str,
        decode: Decoder[O_co],
    ) -> None:
        self._invocation_id = invocation_id
        self._ingress = ingress
        self._path = path  # e.g. /restate/invocation/{id}; /attach and /output are added
        self._decode = decode

    @property
    def invocation_id(self) -> str | None:
        """The invocation id (``inv_1…``); None for a workflow addressed by key only."""
        return self._invocation_id

    async def attach(self) -> O_co:
        """Wait until the invocation completes; its result."""
        return self._decode(await self._ingress.request("GET", f"{self._path}/attach"))

    async def output(self) -> Output[O_co]:
        """The result if the invocation completed, else ``Output(ready=False)``."""
        try:
            response = await self._ingress.request("GET", f"{self._path}/output")
        except NotReadyError:
            return Output(ready=False)
        return Output(ready=True, value=self._decode(response))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._invocation_id or self._path!r})"


class SendHandle(InvocationHandle[O_co]):
    """What a send returns: the invocation the ingress accepted, attachable.

    ``status`` is "Accepted" when this request created the invocation and
    "PreviouslyAccepted" when it already existed (same idempotency key, or a workflow key
    that was already submitted). ``execution_time`` is when a delayed send will run.
    """

    def __init__(
        self,
        invocation_id: str,
        status: SendStatus,
        *,
        execution_time: datetime | None,
        ingress: IngressHttp,
        path: str,
        decode: Decoder[O_co],
    ) -> None:
        super().__init__(invocation_id, ingress=ingress, path=path, decode=decode)
        self.status: SendStatus = status
        self.execution_time = execution_time

    @property
    def invocation_id(self) -> str:
        assert self._invocation_id is not None
        return self._invocation_id

    @property
    def previously_accepted(self) -> bool:
        return self.status == "PreviouslyAccepted"

    def __repr__(self) -> str:
        return f"SendHandle({self.invocation_id!r}, status={self.status!r})"
