"""Which invocation id a new invocation gets: decided here, for the ingress and for calls
made by handlers alike.

A workflow run and a request with an idempotency key get an id that is a function of their
target (protocol reference §5.5), so "does it exist already?" is an id lookup, and the
ingress can compute an id (attach by key, lookup) without touching the store.
"""

from __future__ import annotations

from perdure.protocol.ids import (
    InvocationId,
    idempotent_request_uuid,
    partition_key_for,
    workflow_run_uuid,
)
from perdure.server.engine.services import Target


def workflow_invocation_id(workflow: str, key: str) -> str:
    return str(InvocationId(partition_key_for(key), workflow_run_uuid(workflow, key)))


def idempotent_invocation_id(
    service: str, key: str | None, handler: str, idempotency_key: str
) -> str:
    uuid = idempotent_request_uuid(service, key, handler, idempotency_key)
    # Keyed targets stay in their key's partition; unkeyed ones spread by the key.
    return str(InvocationId(partition_key_for(key if key is not None else idempotency_key), uuid))


def choose_invocation_id(target: Target, key: str | None, idempotency_key: str | None) -> str:
    """The id of a new invocation of `target`: once per workflow key for a workflow run (an
    idempotency key changes nothing there), derived from the idempotency key if there is
    one, else random (in the key's partition for keyed targets)."""
    if target.workflow_run and key is not None:
        return workflow_invocation_id(target.service, key)
    if idempotency_key is not None:  # "" included: restate's ingress takes it as a key
        return idempotent_invocation_id(
            target.service, key if target.keyed else None, target.handler, idempotency_key
        )
    partition_key = partition_key_for(key) if target.keyed and key is not None else None
    return str(InvocationId.generate(partition_key))
