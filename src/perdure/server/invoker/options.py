"""Per-attempt options the invoker needs, resolved inside the engine's transaction."""

from __future__ import annotations

from perdure.server.config import ServerConfig
from perdure.server.schema import ServiceInfo


def attempt_timeouts(
    info: ServiceInfo | None, handler_name: str, config: ServerConfig
) -> tuple[int, int]:
    """(inactivity, abort) timeouts in ms: the handler's manifest option, else the
    service's, else the server's (`RESTATE_WORKER__INVOKER__*`)."""
    inactivity = config.inactivity_timeout_ms
    abort = config.abort_timeout_ms
    if info is None:
        return inactivity, abort
    handler = info.handler(handler_name)
    # Service options first, then the handler's, so the most specific one wins.
    layers = [info.manifest.options]
    if handler is not None:
        layers.append(handler.options)
    for options in layers:
        if options.inactivity_timeout_ms is not None:
            inactivity = options.inactivity_timeout_ms
        if options.abort_timeout_ms is not None:
            abort = options.abort_timeout_ms
    return inactivity, abort
