"""What the engine needs to know about a registered service, read from its stored manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal

from perdure.protocol.manifest import HandlerManifest, ServiceManifest, parse_service
from perdure.server.config import RetryPolicy
from perdure.store.api import ServiceRow


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved invocation target."""

    service: str
    handler: str
    service_ty: str
    handler_ty: str | None

    @property
    def keyed(self) -> bool:
        return self.service_ty != "SERVICE"

    @property
    def exclusive(self) -> bool:
        """Holds the key's lock for the whole invocation (single writer per key)."""
        return self.service_ty == "VIRTUAL_OBJECT" and self.handler_ty == "EXCLUSIVE"

    @property
    def can_write_state(self) -> bool:
        return self.exclusive or (self.service_ty == "WORKFLOW" and self.handler_ty == "WORKFLOW")


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    row: ServiceRow
    manifest: ServiceManifest

    @classmethod
    def from_row(cls, row: ServiceRow) -> ServiceInfo:
        return cls(row, parse_service(json.loads(row.manifest_json)))

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

    def lazy_state(self, handler_name: str) -> bool:
        handler = self.handler(handler_name)
        if handler is not None and handler.options.enable_lazy_state is not None:
            return handler.options.enable_lazy_state
        return bool(self.manifest.options.enable_lazy_state)
