"""Whether the standard `OTEL_*` variables ask for traces, and to which exporter.

On when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` names an exporter
(`otlp`, `console`); `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn it off.
OTLP goes over HTTP with protobuf only. Reading this imports nothing of OpenTelemetry: a
server without tracing configured does not load it (otel.py builds the pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

logger = logging.getLogger(__name__)

Exporter = Literal["otlp", "console"]
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def traces_exporter(env: Mapping[str, str]) -> Exporter | None:
    """The exporter `env` configures for traces, or None (tracing off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    if not names:
        if not any(env.get(name, "").strip() for name in _ENDPOINTS):
            return None
        names = ["otlp"]
    if "none" in names:
        return None
    if "console" in names:
        return "console"
    if names != ["otlp"]:
        logger.warning("OTEL_TRACES_EXPORTER=%s: perdure exports traces to otlp or console", names)
        return None
    protocol = next((env[n].strip() for n in _PROTOCOLS if env.get(n, "").strip()), None)
    if protocol not in (None, "http/protobuf"):
        logger.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s: perdure exports traces over OTLP/HTTP only; set "
            "it to http/protobuf (and the endpoint to the collector's HTTP port, often 4318)",
            protocol,
        )
        return None
    return "otlp"
