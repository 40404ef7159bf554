"""Invoker options: transport mode, timeouts from the manifest, the message size limit."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from perdure.server.config import ConfigError, ServerConfig
from perdure.server.engine import AttemptPlan, ServiceInfo
from perdure.server.engine.services import attempt_timeouts
from perdure.store.api import ServiceRow

PLAN = AttemptPlan(
    "inv", 1, "S", "h", None, "dp", "http://x", False, {}, 6, b"", protocol_mode="BIDI_STREAM"
)


def test_bidi_needs_http2_a_bidi_manifest_and_an_inactivity_timeout() -> None:
    assert PLAN.streaming
    assert not replace(PLAN, use_http_11=True).streaming
    assert not replace(PLAN, protocol_mode="REQUEST_RESPONSE").streaming
    # Inactivity timeout 0 forces request-response, as restate-server does.
    assert not replace(PLAN, inactivity_timeout_ms=0).streaming


def _info(service_options: dict[str, object], handler_options: dict[str, object]) -> ServiceInfo:
    manifest = {
        "name": "S",
        "ty": "SERVICE",
        "handlers": [{"name": "h", **handler_options}, {"name": "plain"}],
        **service_options,
    }
    row = ServiceRow("S", "dp", 1, "SERVICE", True, json.dumps(manifest))
    return ServiceInfo.from_row(row)


def test_timeouts_come_from_handler_then_service_then_server() -> None:
    config = ServerConfig(inactivity_timeout_ms=60_000, abort_timeout_ms=600_000)
    assert attempt_timeouts(None, "h", config) == (60_000, 600_000)
    info = _info({"inactivityTimeout": 5_000}, {"abortTimeout": 7_000})
    assert attempt_timeouts(info, "h", config) == (5_000, 7_000)
    assert attempt_timeouts(info, "plain", config) == (5_000, 600_000)
    info = _info({"inactivityTimeout": 5_000}, {"inactivityTimeout": 0})
    assert attempt_timeouts(info, "h", config) == (0, 600_000)


def test_message_size_limit_from_the_environment() -> None:
    assert ServerConfig.from_env({}).message_size_limit == 32 * 1024 * 1024
    env = {"RESTATE_NETWORKING__MESSAGE_SIZE_LIMIT": "1 MiB"}
    assert ServerConfig.from_env(env).message_size_limit == 1024 * 1024
    env["RESTATE_WORKER__INVOKER__MESSAGE_SIZE_LIMIT"] = "65536"  # the invoker's wins
    assert ServerConfig.from_env(env).message_size_limit == 65536
    for bad in ("", "lots", "1 parsec", "0"):
        with pytest.raises(ConfigError, match="MESSAGE_SIZE_LIMIT"):
            ServerConfig.from_env({"RESTATE_WORKER__INVOKER__MESSAGE_SIZE_LIMIT": bad})
