"""Operator actions on one invocation (surfaces §2.3, §3.5): cancel, kill, purge, pause,
resume. Each runs in one transaction and answers with the admin API's status code.

Cancel is cooperative: a started invocation gets the CANCEL signal (index 1) in its
journal and its handler decides what to do (compensate, then fail with 409). Kill is not:
the invocation completes at once with 409 "killed", its key's lock goes to the next in
line, and the children it *called* (not the ones it sent to) are killed too.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import CANCEL_SIGNAL_INDEX
from perdure.protocol.messages import MessageType
from perdure.server.commands import AbortAttempt, ControlReply, InvocationControl, Outcome
from perdure.server.engine.core import Engine, failure_result
from perdure.server.lifecycle import InvocationStatus as S
from perdure.store.api import InvocationRow, WriteTxn

logger = logging.getLogger(__name__)

ABORTED = 409
CANCELED = "canceled"
KILLED = "killed"
_NOT_STARTED = {S.PENDING, S.SCHEDULED, S.READY}


def apply(engine: Engine, txn: WriteTxn, cmd: InvocationControl, outcome: Outcome) -> ControlReply:
    row = txn.get_invocation(cmd.invocation_id)
    if row is None:
        return ControlReply(404, f"invocation {cmd.invocation_id} not found")
    operation = cmd.operation
    if operation == "cancel":
        return cancel(engine, txn, row, outcome)
    if operation == "kill":
        return kill(engine, txn, row, outcome)
    if operation == "purge":
        if row.status != S.COMPLETED:
            return ControlReply(409, f"invocation {row.id} is not completed, it cannot be purged")
        engine.purge(txn, row)
        return ControlReply(200)
    if operation == "pause":
        return pause(engine, txn, row, outcome)
    if operation == "resume":
        return resume(engine, txn, row, cmd.deployment, outcome)
    return ControlReply(400, f"unknown operation {operation!r}")


def _remove_unstarted(txn: WriteTxn, row: InvocationRow) -> None:
    txn.remove_from_inbox(row.id)
    txn.delete_timers_of(row.id)


def cancel(engine: Engine, txn: WriteTxn, row: InvocationRow, outcome: Outcome) -> ControlReply:
    status = S(row.status)
    if status == S.COMPLETED:
        return ControlReply(409, f"invocation {row.id} is already completed")
    if status in _NOT_STARTED:
        # Never started: nothing to compensate, it just ends canceled.
        _remove_unstarted(txn, row)
        engine.complete(txn, row, failure_result(ABORTED, CANCELED), outcome)
        return ControlReply(200)
    notification = pb.NotificationTemplate(signal_id=CANCEL_SIGNAL_INDEX)
    notification.void.SetInParent()
    row = engine.append(
        txn,
        row,
        MessageType.SIGNAL,
        notification.SerializeToString(),
        signal_id=CANCEL_SIGNAL_INDEX,
    )
    if status in (S.SUSPENDED, S.PAUSED):
        # The handler must see the signal to act on it: run it now.
        engine.start_attempt(txn, row, outcome)
    else:
        # Running: the attempt sees it live or at its next suspension (already stored,
        # so it resumes at once); backing off: the next attempt replays it.
        txn.put_invocation(row)
    return ControlReply(202)


def call_children(txn: WriteTxn, invocation_id: str) -> list[str]:
    """Ids of the invocations this one *called* (Call commands; sends are detached)."""
    journal = txn.read_journal(invocation_id)
    wanted: set[int] = set()
    children: list[str] = []
    for entry in journal:
        if entry.type == MessageType.CALL:
            call = pb.CallCommandMessage()
            call.ParseFromString(entry.payload)
            wanted.add(call.invocation_id_notification_idx)
        elif (
            entry.type == MessageType.CALL_INVOCATION_ID_COMPLETION
            and entry.completion_id in wanted
        ):
            notification = pb.NotificationTemplate()
            notification.ParseFromString(entry.payload)
            children.append(notification.invocation_id)
    return children


def kill(
    engine: Engine,
    txn: WriteTxn,
    row: InvocationRow,
    outcome: Outcome,
    seen: set[str] | None = None,
) -> ControlReply:
    status = S(row.status)
    if status == S.COMPLETED:
        return ControlReply(409, f"invocation {row.id} is already completed")
    seen = set() if seen is None else seen
    seen.add(row.id)
    children = [] if status in _NOT_STARTED else call_children(txn, row.id)
    if status in _NOT_STARTED:
        _remove_unstarted(txn, row)
    if status == S.RUNNING:
        outcome.effects.append(AbortAttempt(row.id, row.attempt))
    logger.info("killing invocation %s (%s)", row.id, status.value)
    # complete() releases the key's lock (the next inbox entry starts) and answers the
    # callers, attachers and ingress waiters with the failure.
    engine.complete(txn, row, failure_result(ABORTED, KILLED), outcome)
    for child_id in children:
        if child_id in seen:
            continue
        child = txn.get_invocation(child_id)
        if child is not None and child.status != S.COMPLETED:
            kill(engine, txn, child, outcome, seen)
    return ControlReply(200)


def pause(engine: Engine, txn: WriteTxn, row: InvocationRow, outcome: Outcome) -> ControlReply:
    status = S(row.status)
    if status == S.PAUSED:
        return ControlReply(200)
    if status not in (S.RUNNING, S.BACKING_OFF, S.SUSPENDED):
        return ControlReply(409, f"invocation {row.id} is not running ({status.value})")
    if status == S.RUNNING:
        outcome.effects.append(AbortAttempt(row.id, row.attempt))
    now = engine.clock.now_ms()
    # Stale frames of the running attempt are dropped from now on (status != running).
    row = replace(engine.set_status(row, S.PAUSED, now), next_retry_at=None)
    txn.put_invocation(row)
    return ControlReply(202)


def resume(
    engine: Engine,
    txn: WriteTxn,
    row: InvocationRow,
    deployment: str | None,
    outcome: Outcome,
) -> ControlReply:
    status = S(row.status)
    if status == S.COMPLETED:
        return ControlReply(409, f"invocation {row.id} is already completed")
    if status in _NOT_STARTED:
        return ControlReply(425, f"invocation {row.id} has not started yet")
    if deployment not in (None, "", "keep"):
        if deployment == "latest":
            info = engine.service_info(txn, row.service)
            if info is None:
                return ControlReply(400, f"service {row.service} is not registered")
            deployment = info.row.deployment_id
        found = txn.get_deployment(deployment)
        if found is None:
            return ControlReply(400, f"deployment {deployment} not found")
        if found.id != row.deployment_id:
            # start_attempt negotiates the protocol version with the new deployment.
            row = replace(row, deployment_id=found.id, protocol_version=None)
    if status == S.RUNNING:
        txn.put_invocation(row)
        return ControlReply(200)
    # Paused, suspended or backing off: a new attempt now (a pending retry timer is
    # fenced off by the attempt number).
    engine.start_attempt(txn, row, outcome)
    return ControlReply(200)
