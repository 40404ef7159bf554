"""Signals: awakeable completions and SendSignal (protocol reference §5.3-§5.4, §6.3).

A signal becomes a `SignalNotification` appended to the target's journal, in the same
transaction as whatever sent it; a target suspended on it resumes. A signal is named by an
index (awakeables: 17 and up) or, in V6's SendSignal, by a name; a suspension waits on
either. Signal index 1 is the built-in CANCEL: it follows the cancel rules
(`control.cancel`), so cancelling from a handler behaves like cancelling from the admin
API. A signal for a completed target is dropped: nothing can await it any more.

The first completion of a signal wins: a second one (an awakeable resolved twice) is
accepted and dropped, never appended. restate-server appends it too; the SDKs then keep
whichever they read last, so a replay could see another value than the first run did.

A target in another partition (cluster mode) gets the signal through its partition's
inbox (`DeliverSignal`).
"""

from __future__ import annotations

import logging

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import CANCEL_SIGNAL_INDEX, AwakeableId, InvalidIdError
from perdure.protocol.messages import MessageType
from perdure.server.engine import control
from perdure.server.engine.commands import CompleteSignal
from perdure.server.engine.crossing import DeliverSignal
from perdure.server.engine.invocations import notify
from perdure.server.engine.lifecycle import InvocationStatus as S
from perdure.server.engine.txn import EngineTxn

logger = logging.getLogger(__name__)


def deliver(tx: EngineTxn, target_id: str, notification: pb.NotificationTemplate) -> bool:
    """Append `notification` (a SignalNotification) to `target_id`; False if unknown (a
    target in another partition is sent the signal, and counts as known here)."""
    if not tx.holds(target_id):
        tx.send(target_id, DeliverSignal(target_id, notification.SerializeToString()))
        return True
    row = tx.get(target_id)
    if row is None:
        return False
    which = notification.WhichOneof("id")
    index = notification.signal_id if which == "signal_id" else None
    name = notification.signal_name if which == "signal_name" else None
    if index == CANCEL_SIGNAL_INDEX:
        if row.status != S.COMPLETED:
            control.cancel(tx, row)
        return True
    if row.status == S.COMPLETED:
        logger.debug("signal for completed invocation %s dropped", target_id)
        return True
    if tx.store.has_notification(
        row.id, (), () if index is None else (index,), signal_names=() if name is None else (name,)
    ):
        logger.info("signal %s of %s already completed: dropped", index or name, target_id)
        return True
    payload = notification.SerializeToString()
    notify(tx, row.id, MessageType.SIGNAL, payload, signal_id=index, signal_name=name)
    return True


def on_complete_signal(tx: EngineTxn, cmd: CompleteSignal) -> None:
    """An awakeable resolved or rejected through the ingress: fire and forget, like
    restate (202 whether or not the invocation exists)."""
    notification = pb.NotificationTemplate(signal_id=cmd.signal_index)
    if cmd.failure is not None:
        notification.failure.code, notification.failure.message = cmd.failure
    else:
        notification.value.content = cmd.value or b""
    if not deliver(tx, cmd.invocation_id, notification):
        logger.info("awakeable completion for unknown invocation %s dropped", cmd.invocation_id)


def from_send_signal(message: pb.SendSignalCommandMessage) -> pb.NotificationTemplate:
    notification = pb.NotificationTemplate()
    if message.WhichOneof("signal_id") == "name":
        notification.signal_name = message.name
    else:
        notification.signal_id = message.idx
    result = message.WhichOneof("result")
    if result == "value":
        notification.value.CopyFrom(message.value)
    elif result == "failure":
        notification.failure.CopyFrom(message.failure)
    else:
        notification.void.SetInParent()
    return notification


def from_complete_awakeable(
    message: pb.CompleteAwakeableCommandMessage,
) -> tuple[str, pb.NotificationTemplate] | None:
    """(target invocation id, notification), or None if the awakeable id is malformed."""
    try:
        awakeable = AwakeableId.parse(message.awakeable_id)
    except InvalidIdError as exc:
        logger.warning("ignoring CompleteAwakeable with a bad id: %s", exc)
        return None
    notification = pb.NotificationTemplate(signal_id=awakeable.signal_index)
    if message.HasField("failure"):
        notification.failure.CopyFrom(message.failure)
    else:
        notification.value.CopyFrom(message.value)
    return str(awakeable.invocation_id), notification


def deliver_sent(tx: EngineTxn, message: DeliverSignal) -> None:
    """A signal from another partition, delivered in the target's."""
    notification = pb.NotificationTemplate()
    notification.ParseFromString(message.notification)
    if not deliver(tx, message.target_id, notification):
        logger.info("signal for unknown invocation %s dropped", message.target_id)
