"""Calls and one-way calls from a handler (protocol reference §6.3, S10).

The child invocation is created in the same transaction as the caller's Call command, so
there is exactly one child per Call entry, however often the attempt is replayed. A caller
that wants the result is registered as a waiter of the child before the child can end;
`invocations.complete` then delivers the result as a CallCompletion.

A child in another partition (cluster mode) is created by a `SpawnChild` message that
the caller's transaction writes to that partition's inbox (`spawn_child` applies it
there): the same steps, one transaction later, and still one child per Call entry.
"""

from __future__ import annotations

import logging

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.engine import v7
from perdure.server.engine.crossing import SpawnChild
from perdure.server.engine.errors import AttemptFailure, NotFound
from perdure.server.engine.ids import choose_invocation_id
from perdure.server.engine.invocations import (
    WORKFLOW_ALREADY_INVOKED,
    add_waiter,
    create_invocation,
    notify,
)
from perdure.server.engine.lifecycle import InvocationStatus as S
from perdure.server.engine.results import notification_from_result
from perdure.server.engine.services import Target
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow

logger = logging.getLogger(__name__)

CallMessage = pb.CallCommandMessage | pb.OneWayCallCommandMessage


Headers = tuple[tuple[str, str], ...]


def call(
    tx: EngineTxn,
    row: InvocationRow,
    payload: bytes,
    message: pb.CallCommandMessage,
    extra_headers: Headers = (),
) -> InvocationRow:
    completion_id = message.result_completion_id
    return _spawn(tx, row, MessageType.CALL, payload, message, completion_id, None, extra_headers)


def one_way_call(
    tx: EngineTxn,
    row: InvocationRow,
    payload: bytes,
    message: pb.OneWayCallCommandMessage,
    extra_headers: Headers = (),
) -> InvocationRow:
    delayed = message.invoke_time if message.invoke_time > tx.now else None
    return _spawn(tx, row, MessageType.ONE_WAY_CALL, payload, message, None, delayed, extra_headers)


def child_headers(message: CallMessage, extra: Headers) -> Headers:
    """The call's own headers, then each of `extra` the call does not set itself."""
    own = tuple((h.key, h.value) for h in message.headers)
    if not extra:
        return own
    names = {name.lower() for name, _ in own}
    return own + tuple((name, value) for name, value in extra if name.lower() not in names)


def _resolve(tx: EngineTxn, message: CallMessage) -> Target:
    service, handler, key = message.service_name, message.handler_name, message.key
    try:
        target = tx.resolve_target(service, handler)
    except NotFound as exc:
        raise AttemptFailure(404, f"call target: {exc}") from None
    if target.keyed and not key:
        raise AttemptFailure(400, f"call to {service}/{handler} needs a key")
    if not target.keyed and key:
        raise AttemptFailure(400, f"call to service {service} must not have a key")
    return target


def _spawn(
    tx: EngineTxn,
    row: InvocationRow,
    message_type: MessageType,
    payload: bytes,
    message: CallMessage,
    result_completion_id: int | None,
    execution_time: int | None,
    extra_headers: Headers,
) -> InvocationRow:
    """Append the call, create the child (unless its id exists), answer with its id, and
    arrange for its result; returns the caller's row (not stored yet)."""
    target = _resolve(tx, message)
    key = message.key if target.keyed else None
    idempotency_key = message.idempotency_key if message.HasField("idempotency_key") else None
    if target.workflow_run and idempotency_key is not None:
        logger.warning("ignoring the idempotency key of a call to workflow %s", target.service)
        idempotency_key = None
    try:
        child_id = choose_invocation_id(target, key, idempotency_key)
    except ValueError as exc:
        raise AttemptFailure(400, str(exc)) from None
    if tx.scope is not None and not target.keyed and idempotency_key is None:
        # Any partition will do for a plain service call: the caller's keeps it local.
        child_id = str(InvocationId.generate(InvocationId.parse(row.id).partition_key))
    row = tx.append(row, message_type, payload)
    id_notification = pb.NotificationTemplate(
        completion_id=message.invocation_id_notification_idx, invocation_id=child_id
    )
    if not tx.holds(child_id):
        spawn = SpawnChild(
            child_id,
            target.service,
            target.handler,
            target.service_ty,
            target.handler_ty,
            key,
            tuple((h.key, h.value) for h in message.headers),
            message.parameter,
            idempotency_key,
            execution_time,
            row.id,
            result_completion_id,
        )
        tx.send(child_id, spawn)
        return _append(tx, row, MessageType.CALL_INVOCATION_ID_COMPLETION, id_notification)
    existing = tx.get(child_id)
    if existing is None:
        # The child's result must reach us: register before it can possibly end.
        if result_completion_id is not None:
            add_waiter(tx, child_id, row.id, result_completion_id)
        create_invocation(
            tx,
            child_id,
            target,
            key,
            child_headers(message, extra_headers) + v7.call_headers(message),
            message.parameter,
            idempotency_key=idempotency_key,
            execution_time=execution_time,
            caller_id=row.id,
        )
    row = _append(tx, row, MessageType.CALL_INVOCATION_ID_COMPLETION, id_notification)
    if existing is None or result_completion_id is None:
        return row
    if target.workflow_run:
        # A workflow runs once per key: a second call fails, it does not attach.
        notification = pb.NotificationTemplate(completion_id=result_completion_id)
        notification.failure.code = 409
        notification.failure.message = WORKFLOW_ALREADY_INVOKED
        return _append(tx, row, MessageType.CALL_COMPLETION, notification)
    if existing.status == S.COMPLETED and existing.result is not None:
        # A call deduplicated by its idempotency key gets the first call's result.
        notification = notification_from_result(existing.result, result_completion_id)
        return _append(tx, row, MessageType.CALL_COMPLETION, notification)
    add_waiter(tx, child_id, row.id, result_completion_id)
    return row


def _append(
    tx: EngineTxn,
    row: InvocationRow,
    entry_type: MessageType,
    notification: pb.NotificationTemplate,
) -> InvocationRow:
    return tx.append(
        row, entry_type, notification.SerializeToString(), completion_id=notification.completion_id
    )


def spawn_child(tx: EngineTxn, message: SpawnChild) -> None:
    """The callee's half of `_spawn`, in the child's partition: the caller's entries are
    already stored in its own; results go back to it by `notify`."""
    target = Target(message.service, message.handler, message.service_ty, message.handler_ty)
    caller, completion_id = message.caller_id, message.result_completion_id
    existing = tx.get(message.child_id)
    if existing is None:
        if completion_id is not None:
            add_waiter(tx, message.child_id, caller, completion_id)
        create_invocation(
            tx,
            message.child_id,
            target,
            message.key,
            message.headers,
            message.body,
            idempotency_key=message.idempotency_key,
            execution_time=message.execution_time,
            caller_id=caller,
        )
        return
    if completion_id is None:
        return
    if target.workflow_run:
        notification = pb.NotificationTemplate(completion_id=completion_id)
        notification.failure.code = 409
        notification.failure.message = WORKFLOW_ALREADY_INVOKED
    elif existing.status == S.COMPLETED and existing.result is not None:
        notification = notification_from_result(existing.result, completion_id)
    else:
        add_waiter(tx, message.child_id, caller, completion_id)
        return
    notify(
        tx,
        caller,
        MessageType.CALL_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )
