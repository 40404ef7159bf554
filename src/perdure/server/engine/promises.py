"""Durable promises of a workflow key (surfaces §3.3): Get blocks, Peek does not, the
first Complete wins and wakes every listener.

A promise belongs to (workflow, key, name). It is stored only once completed; an
invocation that gets an uncompleted promise is registered as a listener, in the same
transaction as its GetPromise command, so the completion cannot slip between the two.
Promises live until the workflow run's completion is purged (see `invocations.purge`).
"""

from __future__ import annotations

import logging

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.server.engine.invocations import notify
from perdure.server.engine.results import notification_from_result
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow

logger = logging.getLogger(__name__)

ALREADY_COMPLETED = "promise was already completed"


def _where(row: InvocationRow) -> tuple[str, str]:
    assert row.key is not None  # promise commands are refused outside workflows
    return row.service, row.key


def get_promise(
    tx: EngineTxn, row: InvocationRow, message: pb.GetPromiseCommandMessage
) -> InvocationRow:
    """`row` has the GetPromise command appended; answer now or listen."""
    service, key = _where(row)
    completion_id = message.result_completion_id
    result = tx.store.get_promise(service, key, message.key)
    if result is None:
        tx.store.add_promise_listener(service, key, message.key, row.id, completion_id)
        return row
    notification = notification_from_result(result, completion_id)
    return tx.append(
        row,
        MessageType.GET_PROMISE_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )


def peek_promise(
    tx: EngineTxn, row: InvocationRow, message: pb.PeekPromiseCommandMessage
) -> InvocationRow:
    service, key = _where(row)
    completion_id = message.result_completion_id
    result = tx.store.get_promise(service, key, message.key)
    if result is None:
        notification = pb.NotificationTemplate(completion_id=completion_id)
        notification.void.SetInParent()
    else:
        notification = notification_from_result(result, completion_id)
    return tx.append(
        row,
        MessageType.PEEK_PROMISE_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )


def complete_promise(
    tx: EngineTxn, row: InvocationRow, message: pb.CompletePromiseCommandMessage
) -> InvocationRow:
    """Complete the promise if free, then wake its listeners. `row` must be stored by the
    caller before (listeners may include `row` itself); returns the row as stored after."""
    service, key = _where(row)
    completion_id = message.result_completion_id
    output = pb.OutputCommandMessage()
    if message.HasField("completion_failure"):
        output.failure.CopyFrom(message.completion_failure)
    else:
        output.value.CopyFrom(message.completion_value)
    result = output.SerializeToString()
    notification = pb.NotificationTemplate(completion_id=completion_id)
    won = tx.store.complete_promise(service, key, message.key, result)
    if won:
        notification.void.SetInParent()
    else:
        notification.failure.code = 409
        notification.failure.message = ALREADY_COMPLETED
    row = tx.append(
        row,
        MessageType.COMPLETE_PROMISE_COMPLETION,
        notification.SerializeToString(),
        completion_id=completion_id,
    )
    tx.put(row)
    if won:
        for listener_id, listener_completion in tx.store.take_promise_listeners(
            service, key, message.key
        ):
            notify(
                tx,
                listener_id,
                MessageType.GET_PROMISE_COMPLETION,
                notification_from_result(result, listener_completion).SerializeToString(),
                completion_id=listener_completion,
            )
    stored = tx.get(row.id)
    assert stored is not None
    return stored
