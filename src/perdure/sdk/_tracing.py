"""OpenTelemetry spans around handler attempts and `ctx.run` actions, when wanted.

Only with `opentelemetry-api` importable (the `perdure[otel]` extra) and a tracer provider
configured (`opentelemetry.trace.set_tracer_provider`, or auto-instrumentation); else
nothing is done. A process that never imported `opentelemetry.trace` has configured
nothing, so the SDK does not import it either (no cost without OpenTelemetry).

The span of an attempt (`handler Service/name`) has as parent the `traceparent` the server
sent with the attempt (its own attempt span), or, from a server that sends none, the one
in the invocation's headers (the ingress caller's). An action's span (`run <name>`) is
its child: the action runs in the handler's context, so spans the action's own code makes
(an HTTP client's, say) nest under it. A replayed action does not run, and has no span.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

_TRACE_HEADERS = ("traceparent", "tracestate")


def _tracer() -> Tracer | None:
    """perdure's tracer, or None when no tracer provider is configured."""
    if "opentelemetry.trace" not in sys.modules:
        return None  # nothing in this process set OpenTelemetry up
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer("perdure.sdk")


def _carrier(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers if k.lower() in _TRACE_HEADERS}


class Span:
    """A live span, or nothing (`Span(None)`): the attempt code calls it either way."""

    def __init__(self, span: Any) -> None:
        self._span = span

    def failed(self, error: BaseException) -> None:
        """The code in the span failed with `error` (retried or terminal)."""
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self._span.record_exception(error)
        self._span.set_status(Status(StatusCode.ERROR, str(error)))


@contextmanager
def attempt_span(
    service: str,
    handler: str,
    invocation_id: str,
    attempt_headers: Mapping[str, str],
    input_headers: Iterable[tuple[str, str]],
) -> Iterator[Span]:
    tracer = _tracer()
    if tracer is None:
        yield Span(None)
        return
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = _carrier(attempt_headers.items()) or _carrier(input_headers)
    with tracer.start_as_current_span(
        f"handler {service}/{handler}",
        context=TraceContextTextMapPropagator().extract(carrier),
        kind=SpanKind.SERVER,
        attributes={
            "restate.invocation.id": invocation_id,
            "rpc.service": service,
            "rpc.method": handler,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield Span(span)


@contextmanager
def run_span(name: str) -> Iterator[Span]:
    tracer = _tracer()
    if tracer is None:
        yield Span(None)
        return
    with tracer.start_as_current_span(
        f"run {name}",
        attributes={"restate.journal.name": name},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield Span(span)
