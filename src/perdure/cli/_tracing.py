"""`perdure dev` and `perdure serve`: the app's handler spans (perdure's SDK makes them)
go where the `OTEL_*` variables say, unless the app set OpenTelemetry up itself."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from perdure.server.observe.trace_config import traces_exporter

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def handler_tracing(default_service_name: str, *, warn_missing: bool = True) -> Iterator[None]:
    """Install a global tracer provider from `OTEL_*` for the block (flushed at its end);
    nothing when tracing is not configured or a provider is set already. `warn_missing`:
    say so when OpenTelemetry is not installed (`perdure dev`'s server says it already)."""
    exporter = traces_exporter(os.environ)
    if exporter is None:
        yield
        return
    try:
        from opentelemetry import trace

        from perdure.server.observe.otel import tracer_provider
    except ImportError as exc:
        if warn_missing:
            logger.warning("OTEL_* asks for traces, but %s: pip install 'perdure[otel]'", exc)
        yield
        return
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield  # the app configured its own
        return

    provider = tracer_provider(exporter, default_service_name)
    trace.set_tracer_provider(provider)
    try:
        yield
    finally:
        provider.shutdown()
