"""Deterministic invocation ids, computed the same way by the ingress and the engine.

A workflow run and a request with an idempotency key get an id that is a function of
their target (protocol reference §5.5), so "does it exist already?" is an id lookup and
the ingress can compute an id (lookup, attach by key) without touching the store.
"""

from __future__ import annotations

from perdure.protocol.ids import (
    InvocationId,
    idempotent_request_uuid,
    partition_key_for,
    workflow_run_uuid,
)


def workflow_invocation_id(workflow: str, key: str) -> str:
    return str(InvocationId(partition_key_for(key), workflow_run_uuid(workflow, key)))


def idempotent_invocation_id(
    service: str, key: str | None, handler: str, idempotency_key: str
) -> str:
    uuid = idempotent_request_uuid(service, key, handler, idempotency_key)
    # Keyed targets stay in their key's partition; unkeyed ones spread by the key.
    return str(InvocationId(partition_key_for(key if key is not None else idempotency_key), uuid))
