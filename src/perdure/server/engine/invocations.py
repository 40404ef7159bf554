"""The core of the engine: create an invocation, run its attempts, retry, complete it.

Everything here is synchronous and runs inside one command's transaction (`EngineTxn`):
rows in, rows and effects out. Journal appends, state writes, status changes and the child
invocations and timers they create all happen in that transaction, so they commit
together or not at all; effects (start an attempt, arm a timer, answer a caller) run only
after the commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.ids import InvocationId, random_seed_for
from perdure.protocol.messages import MessageType, encode_message
from perdure.protocol.versions import choose_protocol_version
from perdure.server.engine import flow_gate, v7
from perdure.server.engine.commands import (
    AttemptFailed,
    AttemptPlan,
    FireTimer,
    InvocationEnded,
    Invoke,
    InvokeReply,
    Recover,
    ReplaceState,
    StartAttempt,
    StateChange,
)
from perdure.server.engine.crossing import Notify
from perdure.server.engine.errors import InvalidRequest, NotFound
from perdure.server.engine.lifecycle import Event, InvocationStatus as S
from perdure.server.engine.results import (
    completed_result,
    expires_at,
    failure_result,
    notification_from_result,
)
from perdure.server.engine.services import Retentions, ServiceInfo, Target, attempt_timeouts
from perdure.server.engine.state_hash import state_version
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow, TimerKind, TimerRow, WaiterRow

logger = logging.getLogger(__name__)

WORKFLOW_ALREADY_INVOKED = "the workflow method was already invoked"
NO_DEPLOYMENT = 503


def target_of(row: InvocationRow) -> Target:
    return Target(row.service, row.handler, row.service_ty, row.handler_ty)


# ---- creation ------------------------------------------------------------------------


def invoke(tx: EngineTxn, cmd: Invoke) -> InvokeReply:
    target = tx.resolve_target(cmd.service, cmd.handler)
    existing = tx.get(cmd.invocation_id)
    if existing is not None:
        if target.workflow_run:
            # A workflow runs once per key: a second call fails, it does not attach.
            failure = failure_result(409, WORKFLOW_ALREADY_INVOKED)
            return InvokeReply(existing.id, False, existing.status, failure)
        return InvokeReply(
            existing.id,
            False,
            existing.status,
            completed_result(existing),
            existing.execution_time,
            expires_at(existing),
        )
    due = None if cmd.delay_ms is None else tx.now + cmd.delay_ms
    row = create_invocation(
        tx,
        cmd.invocation_id,
        target,
        cmd.key,
        cmd.headers,
        cmd.body,
        idempotency_key=cmd.idempotency_key,
        execution_time=due if cmd.delay_ms else None,
    )
    # A zero delay starts at once, but the caller is still told when (restate does).
    return InvokeReply(row.id, True, row.status, None, due)


def create_invocation(
    tx: EngineTxn,
    invocation_id: str,
    target: Target,
    key: str | None,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    *,
    idempotency_key: str | None = None,
    execution_time: int | None = None,
    caller_id: str | None = None,
) -> InvocationRow:
    """Store a new invocation with its Input entry, then schedule, inbox or start it."""
    info = tx.service_info(target.service)
    default = tx.config.default_retention_ms
    retention = (
        info.retentions(target.handler, idempotent=idempotency_key is not None, default_ms=default)
        if info is not None
        else Retentions(default, default)
    )
    row = InvocationRow(
        id=invocation_id,
        service=target.service,
        handler=target.handler,
        key=key,
        service_ty=target.service_ty,
        handler_ty=target.handler_ty,
        status=S.READY,
        created_at=tx.now,
        modified_at=tx.now,
        invoked_by="service" if caller_id else "ingress",
        caller_id=caller_id,
        idempotency_key=idempotency_key,
        last_progress_at=tx.now,
        execution_time=execution_time,
        random_seed=random_seed_for(InvocationId.parse(invocation_id)),
        completion_retention_ms=retention.completion_ms,
        journal_retention_ms=retention.journal_ms,
    )
    entry = pb.InputCommandMessage(
        headers=[pb.Header(key=k, value=v) for k, v in headers],
        value=pb.Value(content=body),
    )
    row = tx.append(row, MessageType.INPUT, entry.SerializeToString())
    return enqueue(tx, row)


def enqueue(tx: EngineTxn, row: InvocationRow) -> InvocationRow:
    """Schedule, inbox or start a `ready` invocation; store it. Returns the stored row."""
    due = row.execution_time
    if due is not None and due > tx.now:
        tx.add_timer(TimerRow(None, due, row.id, TimerKind.SCHEDULED))
        return tx.put(tx.move(row, Event.DELAYED))
    row = replace(row, execution_time=None)
    if target_of(row).exclusive:
        key = row.key
        assert key is not None
        if tx.store.lock_holder(row.service, key) is not None:
            tx.store.push_inbox(row.service, key, row.id)
            return tx.put(tx.move(row, Event.INBOXED))
        tx.store.take_lock(row.service, key, row.id)
    return start_attempt(tx, row)


# ---- attempts --------------------------------------------------------------------------


def start_attempt(tx: EngineTxn, row: InvocationRow) -> InvocationRow:
    """Begin a new attempt (epoch + 1), store the row, emit the plan. A first attempt
    waits (`limited`) while a flow-control limit of it is used up."""
    if row.attempt == 0 and not flow_gate.admit(tx, row):
        return tx.put(tx.move(row, Event.LIMITED))
    info = tx.service_info(row.service)
    deployment = None
    if row.deployment_id is not None:
        deployment = tx.store.get_deployment(row.deployment_id)
    elif info is not None:
        deployment = tx.store.get_deployment(info.row.deployment_id)
    version = row.protocol_version
    if deployment is not None and version is None:
        version = choose_protocol_version(
            deployment.min_protocol_version,
            deployment.max_protocol_version,
            7 if tx.config.protocol_v7 else 6,
        )
    row = tx.move(row, Event.ATTEMPT_STARTED)
    row = replace(
        row,
        attempt=row.attempt + 1,
        next_retry_at=None,
        waiting_completions=(),
        waiting_signals=(),
        waiting_named_signals=(),
        first_attempt_at=row.first_attempt_at or tx.now,
        last_attempt_at=tx.now,
    )
    if deployment is None or version is None:
        # Nothing to run it on (deployment removed): retry later, like a failed attempt.
        message = "no deployment was found to process the invocation"
        failure = FailureDetails(doc_code=NO_DEPLOYMENT_FAILURE)
        return attempt_failed(tx, row, NO_DEPLOYMENT, message, None, failure)
    # The first attempt pins the deployment and protocol version for good.
    row = tx.put(replace(row, deployment_id=deployment.id, protocol_version=version))
    inactivity_ms, abort_ms = attempt_timeouts(info, row.handler, tx.config)
    body, known_entries = attempt_body(tx, row, info)
    plan = AttemptPlan(
        invocation_id=row.id,
        attempt=row.attempt,
        service=row.service,
        handler=row.handler,
        key=row.key,
        deployment_id=deployment.id,
        uri=deployment.uri,
        use_http_11=deployment.use_http_11,
        additional_headers=deployment.additional_headers,
        protocol_version=version,
        body=body,
        known_entries=known_entries,
        protocol_mode=deployment.protocol_mode,
        inactivity_timeout_ms=inactivity_ms,
        abort_timeout_ms=abort_ms,
        created_at=row.created_at,
    )
    tx.effects.append(StartAttempt(plan))
    return row


def attempt_body(tx: EngineTxn, row: InvocationRow, info: ServiceInfo | None) -> tuple[bytes, int]:
    """The StartMessage and the whole journal, framed; and the journal's length."""
    journal = tx.store.read_journal(row.id)
    start = pb.StartMessage(
        id=InvocationId.parse(row.id).to_bytes(),
        debug_id=row.id,
        known_entries=len(journal),
        key=row.key or "",
        retry_count_since_last_stored_entry=row.retries_since_progress,
        duration_since_last_stored_entry=max(0, tx.now - row.last_progress_at),
    )
    if row.protocol_version is not None and row.protocol_version >= 6:
        start.random_seed = row.random_seed
    if row.protocol_version is not None and row.protocol_version >= 7:
        v7.start_fields(start, row, journal)
    lazy = tx.config.disable_eager_state or (info is not None and info.lazy_state(row.handler))
    if row.key is not None and row.service_ty != "SERVICE" and not lazy:
        budget = tx.config.message_size_limit
        for state_key, value in tx.store.all_state(row.service, row.key):
            budget -= len(state_key) + len(value)
            if budget < 0:
                # Too big to ship eagerly: the SDK reads the rest lazily.
                start.partial_state = True
                break
            start.state_map.add(key=state_key, value=value)
    else:
        start.partial_state = True
    parts = [encode_message(start)]
    parts.extend(encode_frame(entry.type, entry.payload) for entry in journal)
    return b"".join(parts), len(journal)


def on_attempt_failed(tx: EngineTxn, cmd: AttemptFailed) -> None:
    row = tx.get(cmd.invocation_id)
    if row is None or row.status != S.RUNNING or row.attempt != cmd.attempt:
        return  # a stale attempt: its invocation moved on (S9)
    # Connection, HTTP status or timeout: restate's "service unavailable" family.
    failure = FailureDetails(doc_code=TRANSPORT_FAILURE)
    attempt_failed(tx, row, cmd.code, cmd.message, cmd.retry_after_ms, failure)


# restate's documentation codes for why an attempt failed (sys_invocation's
# last_failure_error_code): the SDK reported an error, or a journal mismatch; the server
# refused a message (protocol); the endpoint could not be reached; nothing can serve it.
SDK_FAILURE = "RT0007"
JOURNAL_MISMATCH_FAILURE = "RT0016"
PROTOCOL_FAILURE = "RT0012"
TRANSPORT_FAILURE = "RT0010"
NO_DEPLOYMENT_FAILURE = "RT0011"


@dataclass(frozen=True, slots=True)
class FailureDetails:
    """What is known of a failed attempt beyond its code and message."""

    doc_code: str | None = None
    stacktrace: str | None = None
    command_index: int | None = None
    command_name: str | None = None
    command_type: int | None = None


def attempt_failed(
    tx: EngineTxn,
    row: InvocationRow,
    code: int,
    message: str,
    retry_after_ms: int | None,
    details: FailureDetails | None = None,
) -> InvocationRow:
    """Retry with backoff, or pause/kill when the policy is exhausted."""
    logger.info("invocation %s attempt %d failed: [%d] %s", row.id, row.attempt, code, message)
    details = details or FailureDetails()
    row = replace(
        row,
        retry_count=row.retry_count + 1,
        retries_since_progress=row.retries_since_progress + 1,
        last_failure=message,
        last_failure_code=code,
        last_failure_stacktrace=details.stacktrace or None,
        last_failure_command_index=details.command_index,
        last_failure_command_name=details.command_name or None,
        last_failure_command_type=details.command_type,
        last_failure_doc_code=details.doc_code,
    )
    info = tx.service_info(row.service)
    policy = tx.config.retry_policy
    if info is not None:
        policy = info.retry_policy(row.handler, policy)
    if policy.max_attempts is not None and row.retry_count >= policy.max_attempts:
        if policy.on_max_attempts == "kill":
            return complete(tx, row, failure_result(code, message))
        logger.warning("invocation %s paused after %d attempts", row.id, row.retry_count)
        return tx.put(tx.move(row, Event.RETRIES_EXHAUSTED))
    delay = retry_after_ms if retry_after_ms is not None else policy.delay_ms(row.retry_count)
    due = tx.now + delay
    tx.add_timer(TimerRow(None, due, row.id, TimerKind.RETRY, attempt=row.attempt))
    return tx.put(replace(tx.move(row, Event.ATTEMPT_FAILED), next_retry_at=due))


# ---- completion and notifications -------------------------------------------------------


def complete(tx: EngineTxn, row: InvocationRow, result: bytes) -> InvocationRow:
    """Store the result, hand the key's lock on, answer every caller."""
    row = tx.put(
        replace(
            tx.move(row, Event.COMPLETED),
            result=result,
            completed_at=tx.now,
            waiting_completions=(),
            waiting_signals=(),
            waiting_named_signals=(),
            next_retry_at=None,
        )
    )
    release_and_answer(tx, row, result, expires_at(row))
    if row.completion_retention_ms <= 0:
        # Nothing retained: the invocation is gone once its callers have the result.
        purge(tx, row)
    elif row.journal_retention_ms <= 0:
        tx.store.delete_journal(row.id)
        row = tx.put(replace(row, journal_length=0, commands=0))
    return row


def release_and_answer(
    tx: EngineTxn, row: InvocationRow, result: bytes, expires: int | None
) -> None:
    """`row` is done with `result`: hand its key's lock on, answer the invocations that
    called or attached to it and the ingress callers waiting for it."""
    if row.key is not None and tx.store.lock_holder(row.service, row.key) == row.id:
        tx.store.release_lock(row.service, row.key)
        hand_over_lock(tx, row.service, row.key)
    for waiter in tx.store.take_waiters(row.id):
        notification = notification_from_result(result, waiter.completion_id)
        notify(
            tx,
            waiter.caller_id,
            waiter.entry_type,
            notification.SerializeToString(),
            completion_id=waiter.completion_id,
        )
    tx.effects.append(InvocationEnded(row.id, result, expires))


def hand_over_lock(tx: EngineTxn, service: str, key: str) -> None:
    """The key is free: apply the state changes queued at the head of its inbox, then
    start the first invocation still waiting (entries that are not, e.g. killed, are
    skipped rather than stopping the queue)."""
    while (head := tx.store.pop_inbox(service, key)) is not None:
        if head.state_mutation is not None:
            apply_state(tx, service, key, *decode_state(head.state_mutation))
            continue
        waiting = tx.get(head.invocation_id)
        if waiting is not None and waiting.status == S.PENDING:
            tx.store.take_lock(service, key, waiting.id)
            start_attempt(tx, waiting)
            return


def purge(tx: EngineTxn, row: InvocationRow) -> None:
    """Forget a completed invocation: status, journal, timers; its deterministic id
    (idempotency key, workflow key) is free again. A workflow run takes its key's
    state and promises with it."""
    tx.store.delete_journal(row.id)
    tx.store.delete_timers_of(row.id)
    tx.delete(row.id)
    if target_of(row).workflow_run and row.key is not None:
        tx.store.clear_all_state(row.service, row.key)
        tx.store.clear_promises(row.service, row.key)
    logger.debug("purged invocation %s", row.id)


def notify(
    tx: EngineTxn,
    invocation_id: str,
    entry_type: int,
    payload: bytes,
    *,
    completion_id: int | None = None,
    signal_id: int | None = None,
    signal_name: str | None = None,
) -> None:
    """Append a notification to an invocation; resume it if it waits on it. One of
    another partition gets it through that partition's inbox."""
    if not tx.holds(invocation_id):
        message = Notify(invocation_id, int(entry_type), payload, completion_id, signal_id)
        tx.send(invocation_id, message)
        return
    row = tx.get(invocation_id)
    if row is None or row.status == S.COMPLETED:
        return  # late completion for a finished invocation: nothing waits for it
    row = tx.append(
        row,
        entry_type,
        payload,
        completion_id=completion_id,
        signal_id=signal_id,
        signal_name=signal_name,
    )
    if row.status == S.SUSPENDED and (
        (completion_id is not None and completion_id in row.waiting_completions)
        or (signal_id is not None and signal_id in row.waiting_signals)
        or (signal_name is not None and signal_name in row.waiting_named_signals)
    ):
        start_attempt(tx, row)
        return
    tx.put(row)


def add_waiter(tx: EngineTxn, child_id: str, caller_id: str, completion_id: int) -> None:
    tx.store.add_waiter(WaiterRow(child_id, caller_id, completion_id))


# ---- state changes from outside ---------------------------------------------------------


State = tuple[tuple[bytes, bytes], ...]


def encode_state(state: State, version: str | None = None) -> bytes:
    entries = [[k.hex(), v.hex()] for k, v in state]
    return json.dumps(
        entries if version is None else {"state": entries, "version": version}
    ).encode()


def decode_state(blob: bytes) -> tuple[State, str | None]:
    """(state, version); a change queued by an earlier perdure is a bare list."""
    data = json.loads(blob)
    entries, version = (data, None) if isinstance(data, list) else (data["state"], data["version"])
    return tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in entries), version


def apply_state(
    tx: EngineTxn, service: str, key: str, state: State, version: str | None = None
) -> None:
    """Replace the key's state, unless `version` is given and the current state's differs
    (restate drops such a change: the caller edited a state that has moved on)."""
    if version is not None and state_version(tx.store.all_state(service, key)) != version:
        logger.info(
            "state change of %s/%s dropped: version %s is not current", service, key, version
        )
        return
    tx.store.clear_all_state(service, key)
    for state_key, value in state:
        tx.store.set_state(service, key, state_key, value)


def replace_state(tx: EngineTxn, cmd: ReplaceState) -> StateChange:
    """Replace a key's state now, or, while an exclusive invocation holds the key (it
    already read the state it will write back), queue the change in the key's inbox."""
    info = tx.service_info(cmd.service)
    if info is None:
        raise NotFound(f"The requested service '{cmd.service}' does not exist")
    if info.manifest.ty == "SERVICE":
        raise InvalidRequest("Cannot modify state for service type Service")
    if tx.store.lock_holder(cmd.service, cmd.key) is not None:
        tx.store.push_inbox(cmd.service, cmd.key, None, encode_state(cmd.state, cmd.version))
        return StateChange.QUEUED
    apply_state(tx, cmd.service, cmd.key, cmd.state, cmd.version)
    return StateChange.APPLIED


# ---- timers and recovery ----------------------------------------------------------------


def fire_timer(tx: EngineTxn, cmd: FireTimer) -> None:
    timer = tx.store.get_timer(cmd.timer_id)
    if timer is None:
        return  # already fired and committed: fire at most once (S11)
    tx.store.delete_timer(cmd.timer_id)
    row = tx.get(timer.invocation_id)
    if row is None:
        return
    if timer.kind == TimerKind.SLEEP and timer.completion_id is not None:
        notification = pb.NotificationTemplate(completion_id=timer.completion_id)
        notification.void.SetInParent()
        notify(
            tx,
            row.id,
            MessageType.SLEEP_COMPLETION,
            notification.SerializeToString(),
            completion_id=timer.completion_id,
        )
    elif timer.kind == TimerKind.RETRY:
        if row.status == S.BACKING_OFF and row.attempt == timer.attempt:
            start_attempt(tx, row)
    elif timer.kind == TimerKind.SCHEDULED and row.status == S.SCHEDULED:
        enqueue(tx, replace(tx.move(row, Event.DUE), execution_time=None))


def recover(tx: EngineTxn, cmd: Recover) -> None:
    """Attempts that were in flight when the server stopped are lost: start new ones."""
    for status in (S.RUNNING, S.READY):
        for row in tx.store.invocations_with_status(status):
            logger.info("recovering invocation %s (was %s)", row.id, status.value)
            row = tx.known(row)
            if status == S.READY:
                enqueue(tx, row)
            else:
                start_attempt(tx, row)
