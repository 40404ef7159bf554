"""The invocation engine: applies one command to the store, inside the caller's transaction.

Everything here is synchronous and runs on the store's writer thread (sans-IO: rows in,
rows and effects out). Each public method receives a `WriteTxn` and an `Outcome` to fill
with effects; the partition processor runs the effects once the transaction committed.

Journal appends, state writes, status changes and the child invocations and timers they
create all happen in the same transaction, so they commit together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import encode_frame
from perdure.protocol.ids import InvocationId, random_seed_for
from perdure.protocol.messages import MessageType, encode_message
from perdure.protocol.versions import choose_protocol_version
from perdure.server.clock import Clock
from perdure.server.commands import (
    ArmTimer,
    AttemptFailed,
    AttemptPlan,
    FireTimer,
    InvocationEnded,
    Invoke,
    InvokeReply,
    Outcome,
    StartAttempt,
)
from perdure.server.config import ServerConfig
from perdure.server.invoker.options import attempt_timeouts
from perdure.server.lifecycle import InvocationStatus as S, check_transition
from perdure.server.schema import Retentions, ServiceInfo, Target
from perdure.store.api import InvocationRow, JournalEntryRow, TimerRow, WaiterRow, WriteTxn

logger = logging.getLogger(__name__)


class NotFoundError(LookupError):
    """The target service or handler is not registered."""


def notification_from_result(result: bytes, completion_id: int) -> pb.NotificationTemplate:
    """The notification carrying a stored result (a serialized OutputCommandMessage)."""
    output = pb.OutputCommandMessage()
    output.ParseFromString(result)
    notification = pb.NotificationTemplate(completion_id=completion_id)
    if output.HasField("failure"):
        notification.failure.CopyFrom(output.failure)
    else:
        notification.value.CopyFrom(output.value)
    return notification


def failure_result(code: int, message: str) -> bytes:
    """A stored result that is a terminal failure."""
    failure = pb.Failure(code=code, message=message)
    return pb.OutputCommandMessage(failure=failure).SerializeToString()


def completed_result(row: InvocationRow) -> bytes | None:
    """`row`'s result for a caller, or None while the invocation is in flight.

    An Output is stored when it arrives, before End: it is the result only once the
    invocation is COMPLETED (the attempt may still fail and retry, or be killed).
    """
    return row.result if row.status == S.COMPLETED else None


class Engine:
    def __init__(self, config: ServerConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    # ---- helpers -------------------------------------------------------------------

    @staticmethod
    def set_status(row: InvocationRow, status: S, now: int) -> InvocationRow:
        check_transition(S(row.status), status)
        return replace(row, status=status.value, modified_at=now)

    def append(
        self,
        txn: WriteTxn,
        row: InvocationRow,
        entry_type: int,
        payload: bytes,
        *,
        completion_id: int | None = None,
        signal_id: int | None = None,
    ) -> InvocationRow:
        """Append one entry to `row`'s journal; return the row with its counters moved."""
        now = self.clock.now_ms()
        txn.append_entry(
            JournalEntryRow(
                row.id, row.journal_length, entry_type, payload, now, completion_id, signal_id
            )
        )
        row = replace(row, journal_length=row.journal_length + 1, modified_at=now)
        if MessageType(entry_type).is_command:
            row = replace(row, commands=row.commands + 1)
        # Any stored entry is progress: the SDK's run-retry accounting restarts from here.
        return replace(row, retries_since_progress=0, last_progress_at=now)

    def service_info(self, txn: WriteTxn, name: str) -> ServiceInfo | None:
        row = txn.get_service(name)
        return None if row is None else ServiceInfo.from_row(row)

    def resolve_target(self, txn: WriteTxn, service: str, handler: str) -> Target:
        info = self.service_info(txn, service)
        if info is None:
            raise NotFoundError(f"service '{service}' not found")
        spec = info.handler(handler)
        if spec is None:
            raise NotFoundError(f"handler '{service}/{handler}' not found")
        return info.target(spec)

    # ---- creation ----------------------------------------------------------------------

    def invoke(self, txn: WriteTxn, cmd: Invoke, outcome: Outcome) -> None:
        existing = txn.get_invocation(cmd.invocation_id)
        if existing is not None:
            result = completed_result(existing)
            outcome.reply = InvokeReply(existing.id, False, existing.status, result)
            return
        target = self.resolve_target(txn, cmd.service, cmd.handler)
        now = self.clock.now_ms()
        execution_time = now + cmd.delay_ms if cmd.delay_ms else None
        row = self.create_invocation(
            txn,
            cmd.invocation_id,
            target,
            cmd.key,
            cmd.headers,
            cmd.body,
            idempotency_key=cmd.idempotency_key,
            execution_time=execution_time,
            outcome=outcome,
        )
        outcome.reply = InvokeReply(row.id, True, row.status, None)

    def create_invocation(
        self,
        txn: WriteTxn,
        invocation_id: str,
        target: Target,
        key: str | None,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        *,
        outcome: Outcome,
        idempotency_key: str | None = None,
        execution_time: int | None = None,
        caller_id: str | None = None,
    ) -> InvocationRow:
        """Store a new invocation with its Input entry, then queue or start it."""
        now = self.clock.now_ms()
        info = self.service_info(txn, target.service)
        default = self.config.default_retention_ms
        retention = (
            info.retentions(
                target.handler, idempotent=idempotency_key is not None, default_ms=default
            )
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
            status=S.READY.value,
            created_at=now,
            modified_at=now,
            invoked_by="service" if caller_id else "ingress",
            caller_id=caller_id,
            idempotency_key=idempotency_key,
            last_progress_at=now,
            execution_time=execution_time,
            random_seed=random_seed_for(InvocationId.parse(invocation_id)),
            completion_retention_ms=retention.completion_ms,
            journal_retention_ms=retention.journal_ms,
        )
        entry = pb.InputCommandMessage(
            headers=[pb.Header(key=k, value=v) for k, v in headers],
            value=pb.Value(content=body),
        )
        row = self.append(txn, row, MessageType.INPUT, entry.SerializeToString())
        return self.enqueue(txn, row, outcome)

    def enqueue(self, txn: WriteTxn, row: InvocationRow, outcome: Outcome) -> InvocationRow:
        """Schedule, inbox or start `row`; store it. Returns the stored row."""
        now = self.clock.now_ms()
        due = row.execution_time
        if due is not None and due > now:
            row = self.set_status(row, S.SCHEDULED, now)
            timer = txn.add_timer(TimerRow(None, due, row.id, "scheduled"))
            assert timer.id is not None
            outcome.effects.append(ArmTimer(timer.id, timer.due_at))
            txn.put_invocation(row)
            return row
        row = replace(row, execution_time=None)
        target = Target(row.service, row.handler, row.service_ty, row.handler_ty)
        if target.exclusive:
            key = row.key
            assert key is not None
            if txn.lock_holder(row.service, key) is not None:
                txn.push_inbox(row.service, key, row.id)
                row = self.set_status(row, S.PENDING, now)
                txn.put_invocation(row)
                return row
            txn.take_lock(row.service, key, row.id)
        return self.start_attempt(txn, row, outcome)

    # ---- attempts -------------------------------------------------------------------------

    def start_attempt(self, txn: WriteTxn, row: InvocationRow, outcome: Outcome) -> InvocationRow:
        """Begin a new attempt (epoch + 1), store the row, emit the plan."""
        now = self.clock.now_ms()
        info = self.service_info(txn, row.service)
        deployment = None
        if row.deployment_id is not None:
            deployment = txn.get_deployment(row.deployment_id)
        elif info is not None:
            deployment = txn.get_deployment(info.row.deployment_id)
        version = row.protocol_version
        if deployment is not None and version is None:
            version = choose_protocol_version(
                deployment.min_protocol_version, deployment.max_protocol_version
            )
        row = replace(row, attempt=row.attempt + 1, next_retry_at=None)
        row = self.set_status(row, S.RUNNING, now)
        row = replace(row, waiting_completions=(), waiting_signals=())
        if deployment is None or version is None:
            # Nothing to run it on (deployment removed): retry later, like a failed attempt.
            return self.attempt_failed(
                txn, row, 503, f"no deployment can serve {row.service}", None, outcome
            )
        # The first attempt pins the deployment and protocol version for good.
        row = replace(row, deployment_id=deployment.id, protocol_version=version)
        txn.put_invocation(row)
        inactivity_ms, abort_ms = attempt_timeouts(info, row.handler, self.config)
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
            body=self.attempt_body(txn, row, info, now),
            known_entries=row.journal_length,
            protocol_mode=deployment.protocol_mode,
            inactivity_timeout_ms=inactivity_ms,
            abort_timeout_ms=abort_ms,
        )
        outcome.effects.append(StartAttempt(plan))
        return row

    def attempt_body(
        self, txn: WriteTxn, row: InvocationRow, info: ServiceInfo | None, now: int
    ) -> bytes:
        journal = txn.read_journal(row.id)
        start = pb.StartMessage(
            id=InvocationId.parse(row.id).to_bytes(),
            debug_id=row.id,
            known_entries=len(journal),
            key=row.key or "",
            retry_count_since_last_stored_entry=row.retries_since_progress,
            duration_since_last_stored_entry=max(0, now - row.last_progress_at),
        )
        if row.protocol_version is not None and row.protocol_version >= 6:
            start.random_seed = row.random_seed
        lazy = self.config.disable_eager_state or (
            info is not None and info.lazy_state(row.handler)
        )
        if row.key is not None and row.service_ty != "SERVICE" and not lazy:
            budget = self.config.message_size_limit
            for state_key, value in txn.all_state(row.service, row.key):
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
        return b"".join(parts)

    def on_attempt_failed(self, txn: WriteTxn, cmd: AttemptFailed, outcome: Outcome) -> None:
        row = txn.get_invocation(cmd.invocation_id)
        if row is None or row.status != S.RUNNING or row.attempt != cmd.attempt:
            return  # a stale attempt: its invocation moved on (S9)
        self.attempt_failed(txn, row, cmd.code, cmd.message, cmd.retry_after_ms, outcome)

    def attempt_failed(
        self,
        txn: WriteTxn,
        row: InvocationRow,
        code: int,
        message: str,
        retry_after_ms: int | None,
        outcome: Outcome,
    ) -> InvocationRow:
        """Retry with backoff, or pause/kill when the policy is exhausted."""
        now = self.clock.now_ms()
        logger.info("invocation %s attempt %d failed: [%d] %s", row.id, row.attempt, code, message)
        row = replace(
            row,
            retry_count=row.retry_count + 1,
            retries_since_progress=row.retries_since_progress + 1,
            last_failure=message,
            last_failure_code=code,
        )
        info = self.service_info(txn, row.service)
        policy = self.config.retry_policy
        if info is not None:
            policy = info.retry_policy(row.handler, policy)
        if policy.max_attempts is not None and row.retry_count >= policy.max_attempts:
            if policy.on_max_attempts == "kill":
                return self.complete(txn, row, failure_result(code, message), outcome)
            logger.warning("invocation %s paused after %d attempts", row.id, row.retry_count)
            row = self.set_status(row, S.PAUSED, now)
            txn.put_invocation(row)
            return row
        delay = retry_after_ms if retry_after_ms is not None else policy.delay_ms(row.retry_count)
        due = now + delay
        row = replace(self.set_status(row, S.BACKING_OFF, now), next_retry_at=due)
        timer = txn.add_timer(TimerRow(None, due, row.id, "retry", attempt=row.attempt))
        assert timer.id is not None
        outcome.effects.append(ArmTimer(timer.id, due))
        txn.put_invocation(row)
        return row

    # ---- completion and notifications -------------------------------------------------------

    def complete(
        self, txn: WriteTxn, row: InvocationRow, result: bytes, outcome: Outcome
    ) -> InvocationRow:
        """Store the result, release the key, answer every caller."""
        now = self.clock.now_ms()
        row = replace(
            self.set_status(row, S.COMPLETED, now),
            result=result,
            completed_at=now,
            waiting_completions=(),
            waiting_signals=(),
            next_retry_at=None,
        )
        txn.put_invocation(row)
        if row.key is not None and txn.lock_holder(row.service, row.key) == row.id:
            txn.release_lock(row.service, row.key)
            nxt = txn.pop_inbox(row.service, row.key)
            if nxt is not None:
                waiting = txn.get_invocation(nxt.invocation_id)
                if waiting is not None and waiting.status == S.PENDING:
                    txn.take_lock(row.service, row.key, waiting.id)
                    self.start_attempt(txn, waiting, outcome)
        for waiter in txn.take_waiters(row.id):
            notification = notification_from_result(result, waiter.completion_id)
            self.notify(
                txn,
                waiter.caller_id,
                waiter.entry_type,
                notification.SerializeToString(),
                waiter.completion_id,
                None,
                outcome,
            )
        outcome.effects.append(InvocationEnded(row.id, result))
        if row.completion_retention_ms <= 0:
            # Nothing retained: the invocation is gone once its callers have the result.
            self.purge(txn, row)
        elif row.journal_retention_ms <= 0:
            txn.delete_journal(row.id)
            row = replace(row, journal_length=0, commands=0)
            txn.put_invocation(row)
        return row

    def purge(self, txn: WriteTxn, row: InvocationRow) -> None:
        """Forget a completed invocation: status, journal, timers; its deterministic id
        (idempotency key, workflow key) is free again. A workflow run takes its key's
        state and promises with it."""
        txn.delete_journal(row.id)
        txn.delete_timers_of(row.id)
        txn.delete_invocation(row.id)
        if row.handler_ty == "WORKFLOW" and row.service_ty == "WORKFLOW" and row.key is not None:
            txn.clear_all_state(row.service, row.key)
            txn.clear_promises(row.service, row.key)
        logger.debug("purged invocation %s", row.id)

    def notify(
        self,
        txn: WriteTxn,
        invocation_id: str,
        entry_type: int,
        payload: bytes,
        completion_id: int | None,
        signal_id: int | None,
        outcome: Outcome,
    ) -> None:
        """Append a notification to another invocation; resume it if it waits on it."""
        row = txn.get_invocation(invocation_id)
        if row is None or row.status == S.COMPLETED:
            return  # late completion for a finished invocation: nothing waits for it
        row = self.append(
            txn, row, entry_type, payload, completion_id=completion_id, signal_id=signal_id
        )
        if row.status == S.SUSPENDED and (
            (completion_id is not None and completion_id in row.waiting_completions)
            or (signal_id is not None and signal_id in row.waiting_signals)
        ):
            self.start_attempt(txn, row, outcome)
            return
        txn.put_invocation(row)

    def add_waiter(self, txn: WriteTxn, child_id: str, caller_id: str, completion_id: int) -> None:
        txn.add_waiter(WaiterRow(child_id, caller_id, completion_id))

    # ---- timers and recovery ----------------------------------------------------------------

    def fire_timer(self, txn: WriteTxn, cmd: FireTimer, outcome: Outcome) -> None:
        timer = txn.get_timer(cmd.timer_id)
        if timer is None:
            return  # already fired and committed: fire at most once (S11)
        txn.delete_timer(cmd.timer_id)
        row = txn.get_invocation(timer.invocation_id)
        if row is None:
            return
        if timer.kind == "sleep" and timer.completion_id is not None:
            notification = pb.NotificationTemplate(completion_id=timer.completion_id)
            notification.void.SetInParent()
            self.notify(
                txn,
                row.id,
                MessageType.SLEEP_COMPLETION,
                notification.SerializeToString(),
                timer.completion_id,
                None,
                outcome,
            )
        elif timer.kind == "retry":
            if row.status == S.BACKING_OFF and row.attempt == timer.attempt:
                self.start_attempt(txn, row, outcome)
        elif timer.kind == "scheduled" and row.status == S.SCHEDULED:
            row = replace(self.set_status(row, S.READY, self.clock.now_ms()), execution_time=None)
            self.enqueue(txn, row, outcome)

    def recover(self, txn: WriteTxn, outcome: Outcome) -> None:
        """Attempts that were in flight when the server stopped are lost: start new ones."""
        for status in (S.RUNNING, S.READY):
            for row in txn.invocations_with_status(status.value):
                logger.info("recovering invocation %s (was %s)", row.id, status.value)
                if status == S.READY:
                    self.enqueue(txn, row, outcome)
                else:
                    self.start_attempt(txn, row, outcome)
