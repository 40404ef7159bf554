"""What the runtime needs to know about one handler: the contract between the
definition layer (`service.py`, `object.py`, `workflow.py`), discovery, and the
invocation driver (`invocation.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from perdure.protocol.manifest import Options
from perdure.sdk.serde import Serde

ServiceType = Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]
HandlerKind = Literal["exclusive", "shared", "workflow"]
ContextManagerFactory = Callable[[], AbstractAsyncContextManager[None]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """One handler of one service, ready to be invoked.

    `fn` is the user's ``async def h(ctx[, arg])``; `takes_input` says whether it has the
    second parameter. The input bytes are decoded with `input_serde` and the return value
    encoded with `output_serde`. `context_managers` (service's first, then the
    handler's) are entered around every attempt of the handler, outermost first.
    """

    service_name: str
    service_type: ServiceType
    name: str
    kind: HandlerKind | None
    fn: Callable[..., Awaitable[Any]]
    takes_input: bool
    input_serde: Serde[Any]
    output_serde: Serde[Any]
    accept: str = "application/json"
    content_type: str = "application/json"
    input_type_hint: Any = None
    output_type_hint: Any = None
    options: Options = field(default_factory=Options)
    context_managers: tuple[ContextManagerFactory, ...] = ()

    @property
    def is_shared(self) -> bool:
        return self.kind == "shared"

    @property
    def has_state(self) -> bool:
        return self.service_type != "SERVICE"

    @property
    def can_write_state(self) -> bool:
        return self.service_type != "SERVICE" and self.kind != "shared"


HANDLER_ATTRIBUTE = "__perdure_handler__"


def attach_spec(fn: Callable[..., Awaitable[Any]], spec: HandlerSpec) -> None:
    """Mark a decorated function with its spec, so that `ctx.service_call(fn, ...)` works."""
    setattr(fn, HANDLER_ATTRIBUTE, spec)


def handler_spec_of(fn: object) -> HandlerSpec:
    """The spec of a decorated handler function; TypeError for anything else."""
    spec = getattr(fn, HANDLER_ATTRIBUTE, None)
    if not isinstance(spec, HandlerSpec):
        raise TypeError(f"{fn!r} is not a handler; decorate it with @service.handler()")
    return spec
