"""What the engine knows about a registered service, read from its stored manifest."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Literal

from perdure.protocol.manifest import (
    HandlerManifest,
    HandlerType,
    ServiceManifest,
    ServiceType,
    parse_service,
)
from perdure.server.config import RetryPolicy, ServerConfig
from perdure.store.api import ServiceRow


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved invocation target."""

    service: str
    handler: str
    service_ty: ServiceType
    handler_ty: HandlerType | None

    @property
    def keyed(self) -> bool:
        return self.service_ty != "SERVICE"

    @property
    def exclusive(self) -> bool:
        """Holds the key's lock for the whole invocation (single writer per key)."""
        return self.service_ty == "VIRTUAL_OBJECT" and self.handler_ty == "EXCLUSIVE"

    @property
    def workflow_run(self) -> bool:
        """The workflow's main handler: runs once per key, with a deterministic id."""
        return self.service_ty == "WORKFLOW" and self.handler_ty == "WORKFLOW"

    @property
    def can_write_state(self) -> bool:
        return self.exclusive or self.workflow_run


@dataclass(frozen=True, slots=True)
class Retentions:
    completion_ms: int
    journal_ms: int


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    row: ServiceRow
    manifest: ServiceManifest

    @classmethod
    def from_row(cls, row: ServiceRow) -> ServiceInfo:
        return cls(row, _parse_manifest(row.manifest_json))

    @property
    def name(self) -> str:
        return self.row.name

    def handler(self, name: str) -> HandlerManifest | None:
        for handler in self.manifest.handlers:
            if handler.name == name:
                return handler
        return None

    def target(self, handler: HandlerManifest) -> Target:
        return Target(self.row.name, handler.name, self.manifest.ty, handler.ty)

    def retry_policy(self, handler_name: str, default: RetryPolicy) -> RetryPolicy:
        """The default policy, overridden by the service's, then the handler's fields."""
        policy = default
        handler = self.handler(handler_name)
        specs = [self.manifest.options.retry_policy]
        if handler is not None:
            specs.append(handler.options.retry_policy)
        for spec in specs:
            if spec.initial_interval_ms is not None:
                policy = replace(policy, initial_interval_ms=spec.initial_interval_ms)
            if spec.max_interval_ms is not None:
                policy = replace(policy, max_interval_ms=spec.max_interval_ms)
            if spec.max_attempts is not None:
                policy = replace(policy, max_attempts=spec.max_attempts)
            if spec.exponentiation_factor is not None:
                policy = replace(policy, exponentiation_factor=spec.exponentiation_factor)
            if spec.on_max_attempts is not None:
                on_max: Literal["pause", "kill"] = (
                    "kill" if spec.on_max_attempts == "KILL" else "pause"
                )
                policy = replace(policy, on_max_attempts=on_max)
        return policy

    def option_ms(self, handler_name: str, name: str, default: int) -> int:
        """A duration option (e.g. "journal_retention_ms"): handler, else service, else default."""
        handler = self.handler(handler_name)
        for options in (handler.options if handler else None, self.manifest.options):
            value = None if options is None else getattr(options, name)
            if value is not None:
                return int(value)
        return default

    def retentions(self, handler_name: str, *, idempotent: bool, default_ms: int) -> Retentions:
        """How long a completed invocation of `handler_name` is kept (restate's
        `compute_retention`): a workflow run or a request with an idempotency key keeps its
        completion for the workflow/idempotency retention and its journal at most that long;
        anything else keeps its completion exactly as long as its journal."""
        journal = self.option_ms(handler_name, "journal_retention_ms", default_ms)
        handler = self.handler(handler_name)
        if handler is not None and handler.ty == "WORKFLOW":
            completion = self.option_ms(
                handler_name, "workflow_completion_retention_ms", default_ms
            )
            return Retentions(completion, min(journal, completion))
        if idempotent:
            completion = self.option_ms(handler_name, "idempotency_retention_ms", default_ms)
            return Retentions(completion, min(journal, completion))
        return Retentions(journal, journal)

    def lazy_state(self, handler_name: str) -> bool:
        handler = self.handler(handler_name)
        if handler is not None and handler.options.enable_lazy_state is not None:
            return handler.options.enable_lazy_state
        return bool(self.manifest.options.enable_lazy_state)


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


@functools.lru_cache(maxsize=256)
def _parse_manifest(manifest_json: str) -> ServiceManifest:
    # The engine looks a service up several times per command on the single writer thread;
    # a stored manifest only changes by being replaced, and ServiceManifest is immutable,
    # so each distinct text is parsed once.
    return parse_service(json.loads(manifest_json))
