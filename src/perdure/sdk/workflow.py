"""`Workflow`: a `run` handler executed once per key, plus shared handlers that interact
with it through durable promises and state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from perdure.sdk.definition import F, KeyedDefinition, make_options
from perdure.sdk.flow import Rate, limits_metadata
from perdure.sdk.handler import ContextManagerFactory, HandlerSpec
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import Serde


class Workflow(KeyedDefinition):
    """A workflow: its main handler runs at most once per key.

    Shared handlers (`handler`) may run any time, before, during and after the main one,
    to read state and resolve promises. The arguments are those of `VirtualObject`;
    `idempotency_retention` applies to the shared handlers.
    """

    service_type = "WORKFLOW"

    def main(
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
        workflow_retention: timedelta | None = None,
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
        """Register ``async def run(ctx: WorkflowContext[, input]) -> output``, the main handler.

        Name it ``run``: clients (the TypeScript one among them) call the main handler by
        that name. `workflow_retention` is how long state and promises of a finished
        workflow are kept (manifest v3). Otherwise as `Service.handler`.
        """
        return self._decorator(
            name=name,
            kind="workflow",
            accept=accept,
            content_type=content_type,
            input_serde=input_serde,
            output_serde=output_serde,
            options=make_options(
                metadata=metadata,
                inactivity_timeout=inactivity_timeout,
                abort_timeout=abort_timeout,
                journal_retention=journal_retention,
                workflow_retention=workflow_retention,
                enable_lazy_state=enable_lazy_state,
                ingress_private=ingress_private,
                invocation_retry_policy=invocation_retry_policy,
                flow=limits_metadata(concurrency, rate, priority, limit_by),
            ),
            context_managers=invocation_context_managers,
        )

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
        """Register a shared handler, ``async def fn(ctx: WorkflowSharedContext[, input])``."""
        return self._decorator(
            name=name,
            kind="shared",
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

    def _check_new_handler(self, spec: HandlerSpec) -> None:
        super()._check_new_handler(spec)
        if spec.kind == "workflow":
            for other in self.handlers.values():
                if other.kind == "workflow":
                    raise ValueError(
                        f"workflow {self.name} already has a main handler ({other.name}); "
                        "a workflow has exactly one"
                    )
