"""What the engine does with each message a deployment sends during an attempt.

Protocol reference §6.3. Commands are validated first, then appended verbatim (the SDK
compares replayed commands byte-for-byte field by field, so we never re-encode them), then
their effect is applied in the same transaction. A precondition failure (state access from
a service, a write from a shared handler, an unknown call target, …) fails the attempt
transiently, as the real server does, and nothing of that message is stored.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import UnknownMessageType
from perdure.protocol.framing import Frame
from perdure.protocol.ids import InvocationId, partition_key_for
from perdure.protocol.messages import MessageType, decode_payload, parse_type
from perdure.server.commands import ArmTimer, Outcome, SdkFrames
from perdure.server.engine import Engine, NotFoundError, attach, promises, signals
from perdure.server.engine.core import notification_from_result
from perdure.server.invocation_ids import idempotent_invocation_id, workflow_invocation_id
from perdure.server.lifecycle import InvocationStatus as S
from perdure.server.schema import Target
from perdure.store.api import InvocationRow, TimerRow, WriteTxn

logger = logging.getLogger(__name__)

PROTOCOL_VIOLATION = 571
UNSUPPORTED_FEATURE = 573

_STATE_READS = {
    MessageType.GET_LAZY_STATE,
    MessageType.GET_LAZY_STATE_KEYS,
    MessageType.GET_EAGER_STATE,
    MessageType.GET_EAGER_STATE_KEYS,
}
_STATE_WRITES = {MessageType.SET_STATE, MessageType.CLEAR_STATE, MessageType.CLEAR_ALL_STATE}
_JOURNAL_ONLY = {
    MessageType.OUTPUT,
    MessageType.GET_EAGER_STATE,
    MessageType.GET_EAGER_STATE_KEYS,
    MessageType.RUN,
}
_PROMISES = {MessageType.GET_PROMISE, MessageType.PEEK_PROMISE, MessageType.COMPLETE_PROMISE}
# Commands whose effect reaches other invocations (and possibly this one).
_CROSS = {
    MessageType.SEND_SIGNAL,
    MessageType.COMPLETE_AWAKEABLE,
    MessageType.ATTACH_INVOCATION,
    MessageType.GET_INVOCATION_OUTPUT,
}
WORKFLOW_ALREADY_INVOKED = "the workflow method was already invoked"


class AttemptFailure(Exception):
    """The attempt must end and be retried; nothing of the offending message is stored."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def apply_sdk_frames(engine: Engine, txn: WriteTxn, cmd: SdkFrames, outcome: Outcome) -> None:
    row = txn.get_invocation(cmd.invocation_id)
    if row is None or row.status != S.RUNNING or row.attempt != cmd.attempt:
        logger.debug(
            "dropping %d frames of stale attempt %s#%d",
            len(cmd.frames),
            cmd.invocation_id,
            cmd.attempt,
        )
        return
    handler = _FrameHandler(engine, txn, row, outcome, cmd.known_entries)
    for frame in cmd.frames:
        try:
            done = handler.handle(frame)
        except AttemptFailure as failure:
            engine.attempt_failed(txn, handler.row, failure.code, failure.message, None, outcome)
            return
        if done:
            return
    txn.put_invocation(handler.row)


class _FrameHandler:
    """Applies frames of one attempt to `row`, which it keeps up to date."""

    def __init__(
        self, engine: Engine, txn: WriteTxn, row: InvocationRow, outcome: Outcome, known: int
    ) -> None:
        self.engine = engine
        self.known = known  # journal length the attempt replayed
        self.txn = txn
        self.row = row
        self.outcome = outcome
        self.target = Target(row.service, row.handler, row.service_ty, row.handler_ty)

    def handle(self, frame: Frame) -> bool:
        """Apply one frame; True once the attempt ended (row already stored)."""
        try:
            message_type = parse_type(frame.type)
        except UnknownMessageType as exc:
            raise AttemptFailure(PROTOCOL_VIOLATION, str(exc)) from None
        if frame.flags and message_type != MessageType.PROPOSE_RUN_COMPLETION:
            raise AttemptFailure(PROTOCOL_VIOLATION, f"flags set on {message_type.name}")
        try:
            message = decode_payload(message_type, frame.payload)
        except Exception as exc:  # ProtocolError or DecodeError
            raise AttemptFailure(PROTOCOL_VIOLATION, str(exc)) from None
        if message_type.is_command:
            self.command(message_type, frame.payload, message)
            return False
        if message_type == MessageType.PROPOSE_RUN_COMPLETION:
            assert isinstance(message, pb.ProposeRunCompletionMessage)
            self.propose_run_completion(message)
            return False
        if message_type == MessageType.SUSPENSION:
            assert isinstance(message, pb.SuspensionMessage)
            self.suspend(message)
            return True
        if message_type == MessageType.ERROR:
            assert isinstance(message, pb.ErrorMessage)
            delay = message.next_retry_delay if message.HasField("next_retry_delay") else None
            text = message.message or f"error {message.code}"
            self.engine.attempt_failed(self.txn, self.row, message.code, text, delay, self.outcome)
            return True
        if message_type == MessageType.END:
            if self.row.result is None:
                raise AttemptFailure(PROTOCOL_VIOLATION, "End without an Output command")
            self.engine.complete(self.txn, self.row, self.row.result, self.outcome)
            return True
        raise AttemptFailure(
            PROTOCOL_VIOLATION, f"unexpected {message_type.name} from the deployment"
        )

    # ---- commands -------------------------------------------------------------------

    def command(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        if message_type == MessageType.INPUT:
            raise AttemptFailure(PROTOCOL_VIOLATION, "the deployment may not write Input")
        if message_type in _STATE_READS | _STATE_WRITES and not self.target.keyed:
            raise AttemptFailure(500, f"{self.row.service} is a service: it has no state access")
        if message_type in _STATE_WRITES and not self.target.can_write_state:
            raise AttemptFailure(
                500, f"{self.row.service}/{self.row.handler} is shared: it cannot write state"
            )
        if message_type == MessageType.CALL:
            assert isinstance(message, pb.CallCommandMessage)
            self.call(payload, message)
            return
        if message_type == MessageType.ONE_WAY_CALL:
            assert isinstance(message, pb.OneWayCallCommandMessage)
            self.one_way_call(payload, message)
            return
        if message_type in _PROMISES:
            self.promise(message_type, payload, message)
            return
        if message_type in _CROSS:
            self.cross(message_type, payload, message)
            return
        if message_type not in _JOURNAL_ONLY | _STATE_READS | _STATE_WRITES | {MessageType.SLEEP}:
            raise AttemptFailure(
                UNSUPPORTED_FEATURE, f"perdure does not support {message_type.name} yet"
            )
        self.row = self.engine.append(self.txn, self.row, message_type, payload)
        key = self.row.key or ""
        if message_type == MessageType.OUTPUT:
            # The last Output wins; End turns it into the result.
            self.row = replace(self.row, result=payload)
        elif message_type == MessageType.SET_STATE:
            assert isinstance(message, pb.SetStateCommandMessage)
            self.txn.set_state(self.row.service, key, message.key, message.value.content)
        elif message_type == MessageType.CLEAR_STATE:
            assert isinstance(message, pb.ClearStateCommandMessage)
            self.txn.clear_state(self.row.service, key, message.key)
        elif message_type == MessageType.CLEAR_ALL_STATE:
            self.txn.clear_all_state(self.row.service, key)
        elif message_type == MessageType.GET_LAZY_STATE:
            assert isinstance(message, pb.GetLazyStateCommandMessage)
            value = self.txn.get_state(self.row.service, key, message.key)
            notification = pb.NotificationTemplate(completion_id=message.result_completion_id)
            if value is None:
                notification.void.SetInParent()
            else:
                notification.value.content = value
            self.append_notification(
                MessageType.GET_LAZY_STATE_COMPLETION, notification, message.result_completion_id
            )
        elif message_type == MessageType.GET_LAZY_STATE_KEYS:
            assert isinstance(message, pb.GetLazyStateKeysCommandMessage)
            keys = [k for k, _ in self.txn.all_state(self.row.service, key)]
            notification = pb.NotificationTemplate(completion_id=message.result_completion_id)
            notification.state_keys.keys.extend(sorted(keys))
            self.append_notification(
                MessageType.GET_LAZY_STATE_KEYS_COMPLETION,
                notification,
                message.result_completion_id,
            )
        elif message_type == MessageType.SLEEP:
            assert isinstance(message, pb.SleepCommandMessage)
            timer = self.txn.add_timer(
                TimerRow(
                    None,
                    message.wake_up_time,
                    self.row.id,
                    "sleep",
                    completion_id=message.result_completion_id,
                )
            )
            assert timer.id is not None
            self.outcome.effects.append(ArmTimer(timer.id, timer.due_at))

    def promise(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        if self.row.service_ty != "WORKFLOW" or self.row.key is None:
            raise AttemptFailure(
                500, f"{self.row.service} is not a workflow: it has no durable promises"
            )
        self.row = self.engine.append(self.txn, self.row, message_type, payload)
        if isinstance(message, pb.GetPromiseCommandMessage):
            self.row = promises.get_promise(self.engine, self.txn, self.row, message)
        elif isinstance(message, pb.PeekPromiseCommandMessage):
            self.row = promises.peek_promise(self.engine, self.txn, self.row, message)
        else:
            assert isinstance(message, pb.CompletePromiseCommandMessage)
            self.row = promises.complete_promise(
                self.engine, self.txn, self.row, message, self.outcome
            )

    def cross(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        """Append the command, store this row, then act on the other invocation (which may
        be this one: it then sees the stored row), then reload this row."""
        self.row = self.engine.append(self.txn, self.row, message_type, payload)
        if isinstance(message, pb.AttachInvocationCommandMessage):
            self.row = attach.attach(self.engine, self.txn, self.row, message)
            return
        if isinstance(message, pb.GetInvocationOutputCommandMessage):
            self.row = attach.get_output(self.engine, self.txn, self.row, message)
            return
        if isinstance(message, pb.SendSignalCommandMessage):
            target: tuple[str, pb.NotificationTemplate] | None = (
                message.target_invocation_id,
                signals.from_send_signal(message),
            )
        else:
            assert isinstance(message, pb.CompleteAwakeableCommandMessage)
            target = signals.from_complete_awakeable(message)
        if target is None:
            return
        self.txn.put_invocation(self.row)
        if not signals.deliver(self.engine, self.txn, target[0], target[1], self.outcome):
            logger.info("signal from %s for unknown invocation %s dropped", self.row.id, target[0])
        stored = self.txn.get_invocation(self.row.id)
        assert stored is not None
        self.row = stored

    def append_notification(
        self, entry_type: MessageType, notification: pb.NotificationTemplate, completion_id: int
    ) -> None:
        self.row = self.engine.append(
            self.txn,
            self.row,
            entry_type,
            notification.SerializeToString(),
            completion_id=completion_id,
        )

    def resolve_call_target(self, service: str, handler: str, key: str) -> Target:
        try:
            target = self.engine.resolve_target(self.txn, service, handler)
        except NotFoundError as exc:
            raise AttemptFailure(404, f"call target: {exc}") from None
        if target.keyed and not key:
            raise AttemptFailure(400, f"call to {service}/{handler} needs a key")
        if not target.keyed and key:
            raise AttemptFailure(400, f"call to service {service} must not have a key")
        return target

    def child_id(self, target: Target, key: str, idempotency_key: str | None) -> str:
        if target.workflow_run:
            # Once per workflow key; an idempotency key would change nothing here.
            return workflow_invocation_id(target.service, key)
        if idempotency_key is not None:
            if not idempotency_key:
                raise AttemptFailure(400, "an idempotency key must not be empty")
            return idempotent_invocation_id(
                target.service, key if target.keyed else None, target.handler, idempotency_key
            )
        return str(InvocationId.generate(partition_key_for(key) if target.keyed else None))

    def spawn(
        self,
        payload: bytes,
        message_type: MessageType,
        target: Target,
        key: str,
        headers: tuple[tuple[str, str], ...],
        parameter: bytes,
        idempotency_key: str | None,
        invocation_id_idx: int,
        result_completion_id: int | None,
        execution_time: int | None,
    ) -> None:
        if target.workflow_run and idempotency_key is not None:
            logger.warning("ignoring the idempotency key of a call to workflow %s", target.service)
            idempotency_key = None
        child_id = self.child_id(target, key, idempotency_key)
        self.row = self.engine.append(self.txn, self.row, message_type, payload)
        existing = self.txn.get_invocation(child_id)
        if existing is None:
            # The child's result must reach us: register before it can possibly end.
            if result_completion_id is not None:
                self.engine.add_waiter(self.txn, child_id, self.row.id, result_completion_id)
            # Stored in this transaction, with our Call entry: exactly one child (S10).
            self.engine.create_invocation(
                self.txn,
                child_id,
                target,
                key if target.keyed else None,
                headers,
                parameter,
                outcome=self.outcome,
                idempotency_key=idempotency_key,
                execution_time=execution_time,
                caller_id=self.row.id,
            )
        notification = pb.NotificationTemplate(
            completion_id=invocation_id_idx, invocation_id=child_id
        )
        self.append_notification(
            MessageType.CALL_INVOCATION_ID_COMPLETION, notification, invocation_id_idx
        )
        if existing is not None and result_completion_id is not None:
            if target.workflow_run:
                # A workflow runs once per key: a second call fails, it does not attach.
                notification = pb.NotificationTemplate(completion_id=result_completion_id)
                notification.failure.code = 409
                notification.failure.message = WORKFLOW_ALREADY_INVOKED
                self.append_notification(
                    MessageType.CALL_COMPLETION, notification, result_completion_id
                )
            # A call deduplicated by its idempotency key gets the first call's result.
            elif existing.status == S.COMPLETED and existing.result is not None:
                self.deliver_result(existing.result, result_completion_id)
            else:
                self.engine.add_waiter(self.txn, child_id, self.row.id, result_completion_id)

    def deliver_result(self, result: bytes, completion_id: int) -> None:
        notification = notification_from_result(result, completion_id)
        self.append_notification(MessageType.CALL_COMPLETION, notification, completion_id)

    def call(self, payload: bytes, message: pb.CallCommandMessage) -> None:
        target = self.resolve_call_target(message.service_name, message.handler_name, message.key)
        self.spawn(
            payload,
            MessageType.CALL,
            target,
            message.key,
            tuple((h.key, h.value) for h in message.headers),
            message.parameter,
            message.idempotency_key if message.HasField("idempotency_key") else None,
            message.invocation_id_notification_idx,
            message.result_completion_id,
            None,
        )

    def one_way_call(self, payload: bytes, message: pb.OneWayCallCommandMessage) -> None:
        target = self.resolve_call_target(message.service_name, message.handler_name, message.key)
        now = self.engine.clock.now_ms()
        self.spawn(
            payload,
            MessageType.ONE_WAY_CALL,
            target,
            message.key,
            tuple((h.key, h.value) for h in message.headers),
            message.parameter,
            message.idempotency_key if message.HasField("idempotency_key") else None,
            message.invocation_id_notification_idx,
            None,
            message.invoke_time if message.invoke_time > now else None,
        )

    # ---- control messages ------------------------------------------------------------------

    def propose_run_completion(self, message: pb.ProposeRunCompletionMessage) -> None:
        completion_id = message.result_completion_id
        if self.txn.has_completion(self.row.id, completion_id, MessageType.RUN_COMPLETION):
            # One recorded result per step (S4): a second proposal is ignored.
            logger.info("ignoring a second run completion %d of %s", completion_id, self.row.id)
            return
        notification = pb.NotificationTemplate(completion_id=completion_id)
        if message.HasField("failure"):
            notification.failure.CopyFrom(message.failure)
        else:
            notification.value.content = message.value
        self.append_notification(MessageType.RUN_COMPLETION, notification, completion_id)

    def suspend(self, message: pb.SuspensionMessage) -> None:
        completions = tuple(message.waiting_completions)
        signals = tuple(message.waiting_signals)
        if not completions and not signals and not message.waiting_named_signals:
            raise AttemptFailure(PROTOCOL_VIOLATION, "suspension waits on nothing")
        if self.txn.has_notification(self.row.id, completions, signals, self.known):
            # The race: what it waits for was stored after its replay; resume at once. One
            # it replayed (e.g. the cancel signal every await also waits on) cannot wake it.
            self.engine.start_attempt(self.txn, self.row, self.outcome)
            return
        now = self.engine.clock.now_ms()
        row = self.engine.set_status(self.row, S.SUSPENDED, now)
        self.row = replace(row, waiting_completions=completions, waiting_signals=signals)
        self.txn.put_invocation(self.row)
