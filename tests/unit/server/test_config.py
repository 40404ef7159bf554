from __future__ import annotations

from pathlib import Path

import pytest

from perdure.server.config import ConfigError, RetryPolicy, ServerConfig
from perdure.server.durations import DurationError, format_duration_ms, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("1h 30m", 5_400_000),
        ("60 sec", 60_000),
        ("PT1S", 1000),
        ("PT1.5S", 1500),
        ("P1D", 86_400_000),
        ("5000", 5000),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    "text", ["", "abc", "5 parsecs", "P1Y", "P1M", "PT", "-5s", "²", "٣s", "PT٣S", "1:٣0:00"]
)
def test_bad_duration(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration_ms(text)


def test_format_duration() -> None:
    assert format_duration_ms(86_400_000) == "1d"
    assert format_duration_ms(60_000) == "1m"
    assert format_duration_ms(500) == "500ms"


def test_default_retry_policy_backoff() -> None:
    policy = RetryPolicy()
    assert [policy.delay_ms(n) for n in (1, 2, 3)] == [500, 1000, 2000]
    assert policy.delay_ms(20) == 60_000
    assert policy.max_attempts == 70 and policy.on_max_attempts == "pause"


def test_env_then_flags() -> None:
    env = {
        "RESTATE_BASE_DIR": "/tmp/x",
        "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "0s",
        "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "1",
        "RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS": "kill",
        "RESTATE_INGRESS__BIND_ADDRESS": "127.0.0.1:18080",
        "RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE": "true",
    }
    config = ServerConfig.build(env, ingress_port=9999, data_dir=None)
    assert config.data_dir == Path("/tmp/x")
    assert config.inactivity_timeout_ms == 0
    assert config.retry_policy.max_attempts == 1
    assert config.retry_policy.on_max_attempts == "kill"
    assert config.disable_eager_state
    assert config.ingress_port == 9999  # the flag wins over the env


def test_bad_env_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS"):
        ServerConfig.build({"RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "lots"})


def test_protocol_v7_is_opt_in_as_on_restate_server() -> None:
    assert not ServerConfig.build({}, data_dir=None).protocol_v7
    enabled = {"RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "true"}
    assert ServerConfig.build(enabled, data_dir=None).protocol_v7
