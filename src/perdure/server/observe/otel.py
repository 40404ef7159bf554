"""The OpenTelemetry trace pipeline, once `OTEL_*` asked for one (trace_config.py).

Spans go out over OTLP/HTTP with protobuf (or to stdout with the console exporter),
batched (`OTEL_BSP_*`), sampled by `OTEL_TRACES_SAMPLER` (default: follow the parent's
decision), under the resource `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` give.

`ChosenIds` lets the server pick a span's id (an invocation's span keeps one id over
every attempt and restart); every other id is random.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from perdure.server.observe.trace_config import Exporter


class ChosenIds(IdGenerator):
    """Random ids, except inside `choose(...)`: then the ids given (the tracer asks for
    them synchronously in `start_span`, on the event loop's thread)."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._span_id: int | None = None
        self._trace_id: int | None = None

    @contextmanager
    def choose(self, span_id: int, trace_id: int) -> Iterator[None]:
        """The next span started gets `span_id`, and `trace_id` if it has no parent."""
        self._span_id, self._trace_id = span_id, trace_id
        try:
            yield
        finally:
            self._span_id = self._trace_id = None

    def generate_span_id(self) -> int:
        chosen, self._span_id = self._span_id, None
        return chosen if chosen is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        chosen, self._trace_id = self._trace_id, None
        return chosen if chosen is not None else self._random.generate_trace_id()


def tracer_provider(
    exporter: Exporter, default_service_name: str, *, id_generator: IdGenerator | None = None
) -> TracerProvider:
    """A tracer provider exporting to `exporter`, configured further by `OTEL_*`. Its owner
    calls `shutdown()` (which flushes what is batched) when it stops."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    provider = TracerProvider(resource=resource, id_generator=id_generator, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    return provider


def _exporter(exporter: Exporter) -> SpanExporter:
    if exporter == "console":
        return ConsoleSpanExporter()
    # The SDK's exporter reads the endpoint, headers, timeout, compression and
    # certificates from the environment.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
