"""Server configuration: one frozen object, built once from defaults, env, then flags.

Environment variables use Restate's names where one exists, so harnesses written for
`restate-server` configure perdure unchanged. Flags win over the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from perdure.server.durations import DurationError, parse_duration_ms
from perdure.server.errors import ServerError
from perdure.server.kafka.clusters import KafkaCluster, clusters_from_env


class ConfigError(ServerError, ValueError):
    """A configuration value is invalid; the message names the variable and the value."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Invocation retry policy. Defaults are those of restate-server 1.7 (not its docs)."""

    initial_interval_ms: int = 500
    exponentiation_factor: float = 2.0
    max_interval_ms: int = 60_000
    # Counts every attempt, the first included; None means unlimited.
    max_attempts: int | None = 70
    on_max_attempts: Literal["pause", "kill"] = "pause"

    def delay_ms(self, failed_attempts: int) -> int:
        """Backoff before the attempt that follows `failed_attempts` failures (>= 1)."""
        delay = self.initial_interval_ms * self.exponentiation_factor ** (failed_attempts - 1)
        return int(min(delay, self.max_interval_ms))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = Path("perdure-data")
    host: str = "127.0.0.1"
    ingress_port: int = 8080
    admin_port: int = 9070
    # FULL: each commit is fsynced (survives power loss). NORMAL: survives a process crash
    # only, faster. See perdure.store.sqlite.store.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # A postgresql:// URL selects the PostgreSQL store (perdure.server.stores); None keeps
    # SQLite in data_dir.
    store: str | None = None
    # Fixed when a PostgreSQL schema is created; a store refuses to open with another.
    partitions: int = 64
    # Cluster mode (PostgreSQL only): this node's name among the nodes sharing the
    # database, and how long its partition leases last without a renewal.
    node_name: str | None = None
    lease_ttl_ms: int = 10_000
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    inactivity_timeout_ms: int = 60_000
    abort_timeout_ms: int = 600_000
    disable_eager_state: bool = False
    cleanup_interval_ms: int = 3_600_000
    # Completed invocations stay queryable this long (journal retention, 1.7 default).
    default_retention_ms: int = 86_400_000
    # Frames and ingress bodies above this are refused (networking.message-size-limit).
    message_size_limit: int = 32 * 1024 * 1024
    request_identity_key_file: Path | None = None
    cluster_name: str = "perdure"
    # Bearer tokens guarding the admin API and the ingress (None: open, restate's default).
    admin_token: str | None = field(default=None, repr=False)
    ingress_token: str | None = field(default=None, repr=False)
    # Drive deployments that advertise service protocol V7 in V7; off by default, at most
    # V6, as restate-server 1.7 (RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7=true turns it on).
    protocol_v7: bool = False
    # Kafka clusters subscriptions read from (RESTATE_INGRESS__KAFKA_CLUSTERS or the
    # RESTATE_CONFIG file's [[ingress.kafka-clusters]], as restate-server reads them).
    kafka_clusters: tuple[KafkaCluster, ...] = ()

    @classmethod
    def build(cls, env: Mapping[str, str] | None = None, /, **flags: object) -> ServerConfig:
        """Defaults, then `RESTATE_*` env, then the non-None `flags`."""
        config = cls.from_env(os.environ if env is None else env)
        overrides = {k: v for k, v in flags.items() if v is not None}
        if "data_dir" in overrides:
            overrides["data_dir"] = Path(str(overrides["data_dir"]))
        return replace(config, **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerConfig:
        base = cls()
        policy = base.retry_policy
        values: dict[str, object] = {}
        if "RESTATE_BASE_DIR" in env:
            values["data_dir"] = Path(env["RESTATE_BASE_DIR"])
        if env.get("PERDURE_STORE"):
            values["store"] = env["PERDURE_STORE"]
        if "RESTATE_DEFAULT_NUM_PARTITIONS" in env:
            values["partitions"] = _positive("RESTATE_DEFAULT_NUM_PARTITIONS", env)
        if env.get("PERDURE_NODE_NAME"):
            values["node_name"] = check_node_name("PERDURE_NODE_NAME", env["PERDURE_NODE_NAME"])
        if env.get("PERDURE_LEASE_TTL"):
            values["lease_ttl_ms"] = lease_ttl("PERDURE_LEASE_TTL", env["PERDURE_LEASE_TTL"])
        for var, name in (
            ("RESTATE_INGRESS__BIND_ADDRESS", "ingress"),
            ("RESTATE_ADMIN__BIND_ADDRESS", "admin"),
        ):
            if var in env:
                host, port = _host_port(var, env[var])
                values["host"] = host
                values[f"{name}_port"] = port
        for var, name in (
            ("RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT", "inactivity_timeout_ms"),
            ("RESTATE_WORKER__INVOKER__ABORT_TIMEOUT", "abort_timeout_ms"),
            ("RESTATE_WORKER__CLEANUP_INTERVAL", "cleanup_interval_ms"),
        ):
            if var in env:
                values[name] = _duration(var, env[var])
        clusters = clusters_from_env(env)
        if clusters:
            values["kafka_clusters"] = clusters
        if "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7" in env:
            values["protocol_v7"] = _bool(
                "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7",
                env["RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7"],
            )
        if "RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE" in env:
            values["disable_eager_state"] = _bool(
                "RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE",
                env["RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE"],
            )
        # The invoker's own limit wins over the networking one, as in restate-server.
        for var in (
            "RESTATE_NETWORKING__MESSAGE_SIZE_LIMIT",
            "RESTATE_WORKER__INVOKER__MESSAGE_SIZE_LIMIT",
        ):
            if var in env:
                values["message_size_limit"] = _byte_size(var, env[var])
        if "RESTATE_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE" in env:
            values["request_identity_key_file"] = Path(
                env["RESTATE_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"]
            )
        prefix = "RESTATE_DEFAULT_RETRY_POLICY__"
        if prefix + "INITIAL_INTERVAL" in env:
            var = prefix + "INITIAL_INTERVAL"
            policy = replace(policy, initial_interval_ms=_duration(var, env[var]))
        if prefix + "MAX_INTERVAL" in env:
            var = prefix + "MAX_INTERVAL"
            policy = replace(policy, max_interval_ms=_duration(var, env[var]))
        if prefix + "EXPONENTIATION_FACTOR" in env:
            var = prefix + "EXPONENTIATION_FACTOR"
            try:
                policy = replace(policy, exponentiation_factor=float(env[var]))
            except ValueError:
                raise ConfigError(f"{var} has value {env[var]!r}: not a number") from None
        if prefix + "MAX_ATTEMPTS" in env:
            var = prefix + "MAX_ATTEMPTS"
            text = env[var].strip().lower()
            if text == "unlimited":
                policy = replace(policy, max_attempts=None)
            elif text.isdigit() and int(text) >= 1:
                policy = replace(policy, max_attempts=int(text))
            else:
                raise ConfigError(f"{var} has value {env[var]!r}: not a positive integer")
        if prefix + "ON_MAX_ATTEMPTS" in env:
            var = prefix + "ON_MAX_ATTEMPTS"
            text = env[var].strip().lower()
            if text not in ("pause", "kill"):
                raise ConfigError(f"{var} has value {env[var]!r}: expected pause or kill")
            policy = replace(policy, on_max_attempts=text)  # type: ignore[arg-type]
        values["retry_policy"] = policy
        for name in ("admin", "ingress"):
            token = _token(env, f"PERDURE_{name.upper()}_TOKEN")
            if token is not None:
                values[f"{name}_token"] = token
        return replace(base, **values)  # type: ignore[arg-type]


_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
MIN_LEASE_TTL_MS = 1_000


def check_node_name(var: str, name: str) -> str:
    """A node name: letters, digits, `.`, `_`, `-`, at most 63 characters."""
    if not _NODE_NAME.fullmatch(name):
        raise ConfigError(
            f"{var} has value {name!r}: a node name is 1-63 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


def lease_ttl(var: str, text: str) -> int:
    """A lease TTL such as `10s` (at least one second)."""
    ms = _duration(var, text)
    if ms < MIN_LEASE_TTL_MS:
        raise ConfigError(f"{var} has value {text!r}: a lease lasts at least 1s")
    return ms


def read_token_file(var: str, path: Path) -> str:
    """A token from a file (its first line, trimmed); refused when empty or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror or exc}") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ConfigError(f"{var}: {path} is empty; put the token on its first line")
    return token


def _token(env: Mapping[str, str], var: str) -> str | None:
    """`VAR` holds the token itself, `VAR_FILE` a file holding it (VAR wins)."""
    if env.get(var, "").strip():
        return env[var].strip()
    if env.get(f"{var}_FILE", "").strip():
        return read_token_file(f"{var}_FILE", Path(env[f"{var}_FILE"].strip()))
    return None


def _duration(var: str, text: str) -> int:
    try:
        return parse_duration_ms(text)
    except DurationError as exc:
        raise ConfigError(f"{var} has value {text!r}: {exc}") from None


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def _byte_size(var: str, text: str) -> int:
    """A byte count: `33554432`, `32 MiB`, `64kb` (restate's human-readable sizes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _BYTE_UNITS or float(match.group(1)) * _BYTE_UNITS[unit] < 1:
        raise ConfigError(f"{var} has value {text!r}: expected a size such as 32MiB or 65536")
    return int(float(match.group(1)) * _BYTE_UNITS[unit])


def _positive(var: str, env: Mapping[str, str]) -> int:
    text = env[var].strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{var} has value {env[var]!r}: not a positive integer")
    return int(text)


def _bool(var: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{var} has value {text!r}: expected true or false")


def _host_port(var: str, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{var} has value {text!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
