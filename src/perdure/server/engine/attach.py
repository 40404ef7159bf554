"""AttachInvocation and GetInvocationOutput from a handler (protocol reference §6.3).

The target is named by id, by idempotent request (service, key, handler, idempotency key)
or by workflow (name, key); the last two map to deterministic ids. Attach waits: the
attacher is registered as a waiter of the target in the same transaction as its command,
and `Engine.complete` delivers the result as an AttachInvocationCompletion. Get-output
answers at once: void while the target runs, its result once completed.

A target in another partition (cluster mode) gets an `AttachRequest` in its inbox and
answers from there (`answer_request`), through `notify`.
"""

from __future__ import annotations

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import InvalidIdError, InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.engine.crossing import AttachRequest
from perdure.server.engine.ids import idempotent_invocation_id, workflow_invocation_id
from perdure.server.engine.invocations import notify
from perdure.server.engine.results import completed_result, notification_from_result
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow, WaiterRow

NOT_FOUND = "invocation not found"

AttachTarget = pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage


def target_id(message: AttachTarget) -> str | None:
    """The invocation id the command names, or None if it names none validly."""
    which = message.WhichOneof("target")
    if which == "invocation_id":
        try:
            return str(InvocationId.parse(message.invocation_id))
        except InvalidIdError:
            return None
    if which == "idempotent_request_target":
        t = message.idempotent_request_target
        key = t.service_key if t.HasField("service_key") else None
        return idempotent_invocation_id(t.service_name, key, t.handler_name, t.idempotency_key)
    if which == "workflow_target":
        w = message.workflow_target
        return workflow_invocation_id(w.workflow_name, w.workflow_key)
    return None


def _failure(completion_id: int, code: int, message: str) -> pb.NotificationTemplate:
    notification = pb.NotificationTemplate(completion_id=completion_id)
    notification.failure.code = code
    notification.failure.message = message
    return notification


def attach(
    tx: EngineTxn, row: InvocationRow, message: pb.AttachInvocationCommandMessage
) -> InvocationRow:
    """`row` has the command appended; deliver the result now or wait for it."""
    completion_id = message.result_completion_id
    wanted = target_id(message)
    if wanted is not None and not tx.holds(wanted):
        tx.send(wanted, AttachRequest(wanted, row.id, completion_id, get_output=False))
        return row
    target = None if wanted is None else tx.get(wanted)
    if wanted is None or target is None:
        notification = _failure(completion_id, 404, NOT_FOUND)
    elif (result := completed_result(target)) is not None:
        notification = notification_from_result(result, completion_id)
    else:
        tx.store.add_waiter(
            WaiterRow(target.id, row.id, completion_id, MessageType.ATTACH_INVOCATION_COMPLETION)
        )
        return row
    return tx.append(
        row,
        MessageType.ATTACH_INVOCATION_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )


def get_output(
    tx: EngineTxn, row: InvocationRow, message: pb.GetInvocationOutputCommandMessage
) -> InvocationRow:
    completion_id = message.result_completion_id
    wanted = target_id(message)
    if wanted is not None and not tx.holds(wanted):
        tx.send(wanted, AttachRequest(wanted, row.id, completion_id, get_output=True))
        return row
    target = None if wanted is None else tx.get(wanted)
    if wanted is None or target is None:
        notification = _failure(completion_id, 404, NOT_FOUND)
    elif (result := completed_result(target)) is not None:
        notification = notification_from_result(result, completion_id)
    else:
        notification = pb.NotificationTemplate(completion_id=completion_id)
        notification.void.SetInParent()
    return tx.append(
        row,
        MessageType.GET_INVOCATION_OUTPUT_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )


def answer_request(tx: EngineTxn, request: AttachRequest) -> None:
    """An attach or get-output from another partition, answered in the target's."""
    entry_type = (
        MessageType.GET_INVOCATION_OUTPUT_COMPLETION
        if request.get_output
        else MessageType.ATTACH_INVOCATION_COMPLETION
    )
    completion_id = request.completion_id
    target = tx.get(request.target_id)
    if target is None:
        notification = _failure(completion_id, 404, NOT_FOUND)
    elif (result := completed_result(target)) is not None:
        notification = notification_from_result(result, completion_id)
    elif request.get_output:
        notification = pb.NotificationTemplate(completion_id=completion_id)
        notification.void.SetInParent()
    else:
        tx.store.add_waiter(WaiterRow(target.id, request.caller_id, completion_id, entry_type))
        return
    notify(
        tx,
        request.caller_id,
        entry_type,
        notification.SerializeToString(),
        completion_id=completion_id,
    )
