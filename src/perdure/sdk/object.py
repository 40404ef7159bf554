"""`VirtualObject`: keyed handlers with durable state, one exclusive invocation per key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from perdure.sdk.definition import F, KeyedDefinition, make_options
from perdure.sdk.flow import Rate, limits_metadata
from perdure.sdk.handler import ContextManagerFactory
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import Serde


class VirtualObject(KeyedDefinition):
    """A keyed, stateful service.

    Exclusive handlers of one key run one at a time and may write state; shared handlers
    run concurrently and only read it. The arguments are those of `Service`, plus
    `enable_lazy_state`: True to have state fetched on first read instead of sent with
    every attempt (manifest v3).
    """

    service_type = "VIRTUAL_OBJECT"

    def handler(
        self,
        name: str | None = None,
        kind: Literal["exclusive", "shared"] | None = "exclusive",
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: Sequence[ContextManagerFactory] | None = None,
        *,
        concurrency: int | None = None,
        rate: Rate | None = None,
        priority: int | None = None,
        limit_by: str | None = None,
    ) -> Callable[[F], F]:
        """Register ``async def fn(ctx: ObjectContext[, input]) -> output`` as a handler.

        `kind` is "exclusive" (the default; takes `ObjectContext`) or "shared" (takes
        `ObjectSharedContext`). Otherwise as `Service.handler`.
        """
        if kind not in ("exclusive", "shared", None):
            raise ValueError(f"kind must be 'exclusive' or 'shared', got {kind!r}")
        return self._decorator(
            name=name,
            # The server reads an absent type as exclusive; say so explicitly.
            kind=kind or "exclusive",
            accept=accept,
            content_type=content_type,
            input_serde=input_serde,
            output_serde=output_serde,
            options=make_options(
                metadata=metadata,
                inactivity_timeout=inactivity_timeout,
                abort_timeout=abort_timeout,
                journal_retention=journal_retention,
                idempotency_retention=idempotency_retention,
                enable_lazy_state=enable_lazy_state,
                ingress_private=ingress_private,
                invocation_retry_policy=invocation_retry_policy,
                flow=limits_metadata(concurrency, rate, priority, limit_by),
            ),
            context_managers=invocation_context_managers,
        )
