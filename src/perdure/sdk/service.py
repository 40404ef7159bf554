"""`Service`: a set of stateless handlers, invoked concurrently and without a key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from perdure.sdk.definition import F, ServiceDefinition, make_options
from perdure.sdk.flow import Rate, limits_metadata
from perdure.sdk.handler import ContextManagerFactory
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import Serde


class Service(ServiceDefinition):
    """A stateless service. Its handlers have no key and no state.

    Args:
        name: The service name callers use (``POST /{name}/{handler}``).
        description: Documentation shown by the server's UI and admin API.
        metadata: Free-form string pairs, shown by the admin API.
        inactivity_timeout: Time without progress after which the server asks an
            invocation to suspend (manifest v3; restate-server 1.4+).
        abort_timeout: Time after that request before the server aborts the attempt
            (manifest v3).
        journal_retention: How long the journal of a completed invocation is kept
            (manifest v3).
        idempotency_retention: How long an idempotent request's result is kept
            (manifest v3).
        ingress_private: True to make the service callable only from other services, not
            from the HTTP ingress (manifest v3).
        invocation_retry_policy: How failed attempts are retried (manifest v4;
            restate-server 1.5+).
        invocation_context_managers: Factories of async context managers entered around
            every attempt of every handler of the service.
    """

    service_type = "SERVICE"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: Sequence[ContextManagerFactory] | None = None,
        *,
        concurrency: int | None = None,
        rate: Rate | None = None,
        priority: int | None = None,
        limit_by: str | None = None,
    ) -> None:
        options = make_options(
            documentation=description,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
            flow=limits_metadata(concurrency, rate, priority, limit_by),
        )
        super().__init__(name, options, invocation_context_managers)

    def handler(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] | None = None,
        output_serde: Serde[Any] | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: Sequence[ContextManagerFactory] | None = None,
        *,
        concurrency: int | None = None,
        rate: Rate | None = None,
        priority: int | None = None,
        limit_by: str | None = None,
    ) -> Callable[[F], F]:
        """Register ``async def fn(ctx: Context[, input]) -> output`` as a handler.

        The name defaults to the function's; its docstring becomes the documentation;
        input and output serdes follow the type hints unless given. The options are those
        of `Service`, for this handler only. Raises ValueError on a duplicate name.
        """
        return self._decorator(
            name=name,
            kind=None,
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
                ingress_private=ingress_private,
                invocation_retry_policy=invocation_retry_policy,
                flow=limits_metadata(concurrency, rate, priority, limit_by),
            ),
            context_managers=invocation_context_managers,
        )
