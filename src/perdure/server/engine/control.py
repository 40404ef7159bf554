"""Operator actions on one invocation (surfaces §2.3, §3.5): cancel, kill, purge, pause,
resume. Each runs in one transaction; a refusal raises an `EngineError` before anything
is written.

Cancel is cooperative: a started invocation gets the CANCEL signal (index 1) in its
journal and its handler decides what to do (compensate, then fail with 409). Kill is not:
the invocation completes at once with 409 "killed", its key's lock goes to the next in
line, and the children it *called* (not the ones it sent to) are killed too (those in
another partition by a `KillChild` message to it, in cluster mode).

An invocation that has not started (scheduled, waiting in its key's inbox) is dropped by
either, as restate-server does: whoever waits for it gets 409 "canceled" / "killed", and
then nothing of it remains, so its idempotency key or workflow key is free for a new run
and a second cancel finds nothing (404).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import CANCEL_SIGNAL_INDEX
from perdure.protocol.messages import MessageType
from perdure.server.engine.commands import (
    AbortAttempt,
    ControlResult,
    InvocationControl,
)
from perdure.server.engine.crossing import KillChild
from perdure.server.engine.errors import Conflict, InvalidRequest, NotFound, NotStarted
from perdure.server.engine.invocations import (
    complete,
    purge,
    release_and_answer,
    start_attempt,
)
from perdure.server.engine.lifecycle import Event, InvocationStatus as S
from perdure.server.engine.results import failure_result
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow

logger = logging.getLogger(__name__)

ABORTED = 409
CANCELED = "canceled"
KILLED = "killed"
_NOT_STARTED = {S.PENDING, S.SCHEDULED, S.READY, S.LIMITED}


def apply(tx: EngineTxn, cmd: InvocationControl) -> ControlResult:
    row = tx.get(cmd.invocation_id)
    if row is None:
        raise NotFound(f"invocation {cmd.invocation_id} not found", "invocation")
    if cmd.operation == "cancel":
        return cancel(tx, _not_completed(row))
    if cmd.operation == "kill":
        kill(tx, _not_completed(row))
        return ControlResult.DONE
    if cmd.operation == "purge":
        if row.status != S.COMPLETED:
            raise Conflict(
                f"invocation {row.id} is not completed, it cannot be purged", "not_completed"
            )
        purge(tx, row)
        return ControlResult.DONE
    if cmd.operation == "pause":
        return pause(tx, row)
    if cmd.operation == "resume":
        return resume(tx, row, cmd.deployment)
    raise InvalidRequest(f"unknown operation {cmd.operation!r}")


def _not_completed(row: InvocationRow) -> InvocationRow:
    if row.status == S.COMPLETED:
        raise Conflict(f"invocation {row.id} is already completed", "completed")
    return row


def drop_unstarted(tx: EngineTxn, row: InvocationRow, message: str) -> None:
    """Answer whoever waits for a not-started invocation with 409 `message`, then forget
    it entirely (not purge: a workflow's state and promises stay, nothing touched them)."""
    tx.store.remove_from_inbox(row.id)
    tx.store.delete_timers_of(row.id)
    release_and_answer(tx, row, failure_result(ABORTED, message), None)
    tx.store.delete_journal(row.id)
    tx.delete(row.id)
    logger.info("dropped invocation %s (%s, %s)", row.id, row.status.value, message)


def cancel(tx: EngineTxn, row: InvocationRow) -> ControlResult:
    """Cancel an invocation that is not completed."""
    if row.status in _NOT_STARTED:
        # Never started: nothing to compensate, it is dropped.
        drop_unstarted(tx, row, CANCELED)
        return ControlResult.DONE
    notification = pb.NotificationTemplate(signal_id=CANCEL_SIGNAL_INDEX)
    notification.void.SetInParent()
    row = tx.append(
        row, MessageType.SIGNAL, notification.SerializeToString(), signal_id=CANCEL_SIGNAL_INDEX
    )
    if row.status in (S.SUSPENDED, S.PAUSED):
        # The handler must see the signal to act on it: run it now.
        start_attempt(tx, row)
    else:
        # Running: the attempt sees it live or at its next suspension (already stored,
        # so it resumes at once); backing off: the next attempt replays it.
        tx.put(row)
    return ControlResult.ACCEPTED


def call_children(tx: EngineTxn, invocation_id: str) -> list[str]:
    """Ids of the invocations this one *called* (Call commands; sends are detached)."""
    wanted: set[int] = set()
    children: list[str] = []
    for entry in tx.store.read_journal(invocation_id):
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


def kill(tx: EngineTxn, row: InvocationRow, seen: set[str] | None = None) -> None:
    """Kill an invocation that is not completed, and the children it called."""
    seen = set() if seen is None else seen
    seen.add(row.id)
    if row.status in _NOT_STARTED:
        drop_unstarted(tx, row, KILLED)
        return
    children = call_children(tx, row.id)
    if row.status == S.RUNNING:
        tx.effects.append(AbortAttempt(row.id, row.attempt))
    logger.info("killing invocation %s (%s)", row.id, row.status.value)
    # complete() releases the key's lock (the next inbox entry starts) and answers the
    # callers, attachers and ingress waiters with the failure.
    complete(tx, row, failure_result(ABORTED, KILLED))
    for child_id in children:
        if child_id in seen:
            continue
        if not tx.holds(child_id):
            tx.send(child_id, KillChild(child_id))
            continue
        child = tx.get(child_id)
        if child is not None and child.status != S.COMPLETED:
            kill(tx, child, seen)


def pause(tx: EngineTxn, row: InvocationRow) -> ControlResult:
    if row.status == S.PAUSED:
        return ControlResult.DONE
    if row.status not in (S.RUNNING, S.BACKING_OFF, S.SUSPENDED):
        raise Conflict(f"invocation {row.id} is not running ({row.status.value})", "not_running")
    if row.status == S.RUNNING:
        tx.effects.append(AbortAttempt(row.id, row.attempt))
    # Stale frames of the running attempt are dropped from now on (status != running).
    tx.put(replace(tx.move(row, Event.PAUSED), next_retry_at=None))
    return ControlResult.ACCEPTED


def resume(tx: EngineTxn, row: InvocationRow, deployment: str | None) -> ControlResult:
    _not_completed(row)
    if row.status in _NOT_STARTED:
        raise NotStarted(f"invocation {row.id} has not started yet", "not_started")
    if deployment not in (None, "", "keep"):
        if deployment == "latest":
            info = tx.service_info(row.service)
            if info is None:
                raise InvalidRequest(
                    f"service {row.service} is not registered", "deployment_not_found"
                )
            deployment = info.row.deployment_id
        found = tx.store.get_deployment(deployment)
        if found is None:
            raise InvalidRequest(f"deployment {deployment} not found", "deployment_not_found")
        if found.id != row.deployment_id and (row.status == S.RUNNING or row.deployment_id is None):
            # restate changes the deployment of a paused or suspended invocation only.
            raise Conflict(
                f"invocation {row.id} is running or has no deployment yet",
                "cannot_change_deployment",
            )
        if found.id != row.deployment_id:
            # start_attempt negotiates the protocol version with the new deployment.
            row = replace(row, deployment_id=found.id, protocol_version=None)
    if row.status == S.RUNNING:
        tx.put(row)
        return ControlResult.DONE
    # Paused, suspended or backing off: a new attempt now (a pending retry timer is
    # fenced off by the attempt number).
    start_attempt(tx, row)
    return ControlResult.DONE


def kill_child(tx: EngineTxn, message: KillChild) -> None:
    """A child called by an invocation killed in another partition."""
    row = tx.get(message.invocation_id)
    if row is not None and row.status != S.COMPLETED:
        kill(tx, row)
