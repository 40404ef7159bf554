"""Applying a partition's inbox (cluster mode): the messages other partitions' commands
wrote for it, and the commands other nodes routed to it (`crossing`).

`ApplyMessage` deletes the message row and applies it in one transaction, so a message
is applied once however often its owner (or the next one) submits it. A message never
fails the command that applies it: a routed command's refusal becomes its reply, and a
message that cannot be decoded is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from perdure.server.engine import attach, calls, control, signals, wire
from perdure.server.engine.commands import (
    CompleteSignal,
    ControlResult,
    InvocationControl,
    InvocationEnded,
    Invoke,
    InvokeReply,
    ReplaceState,
    StateChange,
)
from perdure.server.engine.crossing import (
    ENDED,
    UNKNOWN,
    ApplyMessage,
    AttachRequest,
    DeliverSignal,
    KillChild,
    Notify,
    Reply,
    Routed,
    SpawnChild,
    WatchResult,
    tables,
)
from perdure.server.engine.errors import EngineError
from perdure.server.engine.invocations import notify
from perdure.server.engine.results import completed_result, expires_at
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationStatus

logger = logging.getLogger(__name__)

Handlers = dict[type[Any], Callable[[EngineTxn, Any], Any]]

wire.register(
    SpawnChild,
    Notify,
    AttachRequest,
    DeliverSignal,
    KillChild,
    WatchResult,
    Routed,
    Reply,
    Invoke,
    InvokeReply,
    CompleteSignal,
    InvocationControl,
    ReplaceState,
    InvocationEnded,
    InvocationStatus,
    ControlResult,
    StateChange,
)


def apply_message(tx: EngineTxn, cmd: ApplyMessage, handlers: Handlers) -> None:
    if not tables(tx.store).take_message(cmd.message_id):
        return  # applied already (submitted twice, or by the partition's last owner)
    try:
        message = wire.decode(cmd.body)
    except wire.WireError as exc:
        logger.error("dropping inbox message %d: %s", cmd.message_id, exc)
        return
    if isinstance(message, Routed):
        _routed(tx, message, handlers)
    elif isinstance(message, SpawnChild):
        calls.spawn_child(tx, message)
    elif isinstance(message, Notify):
        notify(
            tx,
            message.invocation_id,
            message.entry_type,
            message.payload,
            completion_id=message.completion_id,
            signal_id=message.signal_id,
        )
    elif isinstance(message, AttachRequest):
        attach.answer_request(tx, message)
    elif isinstance(message, DeliverSignal):
        signals.deliver_sent(tx, message)
    elif isinstance(message, KillChild):
        control.kill_child(tx, message)
    elif isinstance(message, WatchResult):
        watch_result(tx, message)
    else:
        logger.error("dropping inbox message %d: a %s", cmd.message_id, type(message).__name__)


def _routed(tx: EngineTxn, message: Routed, handlers: Handlers) -> None:
    command = message.command
    handler = handlers.get(type(command))
    if handler is None:
        reply = Reply(None, "InvalidRequest", f"{type(command).__name__} cannot be routed")
    else:
        try:
            value = handler(tx, command)
        except EngineError as exc:  # refused before it wrote anything
            reply = Reply(None, type(exc).__name__, exc.message)
        else:
            reply = Reply(value)
            if message.watch and isinstance(value, InvokeReply) and value.result is None:
                tables(tx.store).add_result_watcher(value.invocation_id, message.node)
    tables(tx.store).push_reply(message.node, message.request_id, wire.encode(reply))


def watch_result(tx: EngineTxn, message: WatchResult) -> None:
    cluster = tables(tx.store)
    row = tx.get(message.invocation_id)
    if row is None:
        cluster.push_reply(message.node, UNKNOWN + message.invocation_id, b"")
        return
    result = completed_result(row)
    if result is None:
        cluster.add_result_watcher(row.id, message.node)
        return
    ended = InvocationEnded(row.id, result, expires_at(row))
    cluster.push_reply(message.node, ENDED + row.id, wire.encode(ended))
