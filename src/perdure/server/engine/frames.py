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
from perdure.protocol.errors import (
    JOURNAL_MISMATCH,
    PROTOCOL_VIOLATION,
    UNSUPPORTED_FEATURE,
    UnknownMessageType,
)
from perdure.protocol.framing import Frame
from perdure.protocol.messages import MessageType, decode_payload, parse_type
from perdure.server.engine import attach, calls, promises, signals, v7
from perdure.server.engine.commands import SdkFrames
from perdure.server.engine.errors import AttemptFailure
from perdure.server.engine.invocations import (
    JOURNAL_MISMATCH_FAILURE,
    PROTOCOL_FAILURE,
    SDK_FAILURE,
    FailureDetails,
    attempt_failed,
    complete,
    start_attempt,
    target_of,
)
from perdure.server.engine.lifecycle import Event, InvocationStatus as S
from perdure.server.engine.results import failure_result
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow, TimerKind, TimerRow

logger = logging.getLogger(__name__)

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
_SIMPLE = _JOURNAL_ONLY | _STATE_READS | _STATE_WRITES | {MessageType.SLEEP}


def apply_sdk_frames(tx: EngineTxn, cmd: SdkFrames) -> None:
    row = tx.get(cmd.invocation_id)
    if row is None or row.status != S.RUNNING or row.attempt != cmd.attempt:
        logger.debug(
            "dropping %d frames of stale attempt %s#%d",
            len(cmd.frames),
            cmd.invocation_id,
            cmd.attempt,
        )
        return
    handler = _FrameHandler(tx, row, cmd.known_entries, cmd.call_headers)
    for frame in cmd.frames:
        try:
            done = handler.handle(frame)
        except AttemptFailure as failure:
            # A message the server refused: a protocol violation, or a failed precondition.
            doc = PROTOCOL_FAILURE if failure.error_code >= PROTOCOL_VIOLATION else "RT0017"
            details = FailureDetails(doc_code=doc)
            attempt_failed(tx, handler.row, failure.error_code, failure.message, None, details)
            return
        if done:
            return
    tx.put(handler.row)


class _FrameHandler:
    """Applies frames of one attempt to `row`, which it keeps up to date."""

    def __init__(
        self,
        tx: EngineTxn,
        row: InvocationRow,
        known: int,
        call_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.tx = tx
        self.row = row
        self.known = known  # journal length the attempt replayed
        self.call_headers = call_headers  # for the invocations this attempt creates
        self.target = target_of(row)

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
        if isinstance(message, pb.ProposeRunCompletionMessage):
            self.propose_run_completion(message, frame.requested_ack)
            return False
        if message_type == MessageType.AWAITING_ON:
            return False  # V7: a hint of what the handler awaits; nothing to store
        if isinstance(message, pb.SuspensionMessage):
            self.suspend(message)
            return True
        if isinstance(message, pb.ErrorMessage):
            delay = message.next_retry_delay if message.HasField("next_retry_delay") else None
            text = message.message or f"error {message.code}"
            if message.behavior == pb.PAUSE and self.row.protocol_version == 7:
                self.tx.put(
                    replace(
                        self.tx.move(self.row, Event.RETRIES_EXHAUSTED),
                        last_failure=text,
                        last_failure_code=message.code,
                    )
                )
            elif message.behavior == pb.FAIL and self.row.protocol_version == 7:
                complete(self.tx, self.row, failure_result(message.code, text))
            else:
                attempt_failed(
                    self.tx, self.row, message.code, text, delay, _error_details(message)
                )
            return True
        if message_type == MessageType.END:
            if self.row.result is None:
                raise AttemptFailure(PROTOCOL_VIOLATION, "End without an Output command")
            complete(self.tx, self.row, self.row.result)
            return True
        raise AttemptFailure(
            PROTOCOL_VIOLATION, f"unexpected {message_type.name} from the deployment"
        )

    # ---- commands -------------------------------------------------------------------

    def command(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        if message_type == MessageType.INPUT:
            raise AttemptFailure(PROTOCOL_VIOLATION, "the deployment may not write Input")
        if self.row.result is not None:
            # The Output is the handler's last command: only End may follow it.
            raise AttemptFailure(
                PROTOCOL_VIOLATION, f"{message_type.name} command after the Output command"
            )
        if message_type in _STATE_READS | _STATE_WRITES and not self.target.keyed:
            raise AttemptFailure(500, f"{self.row.service} is a service: it has no state access")
        if message_type in _STATE_WRITES and not self.target.can_write_state:
            raise AttemptFailure(
                500, f"{self.row.service}/{self.row.handler} is shared: it cannot write state"
            )
        if isinstance(message, pb.CallCommandMessage):
            self.row = calls.call(self.tx, self.row, payload, message, self.call_headers)
        elif isinstance(message, pb.OneWayCallCommandMessage):
            self.row = calls.one_way_call(self.tx, self.row, payload, message, self.call_headers)
        elif message_type in _PROMISES:
            self.promise(message_type, payload, message)
        elif message_type in _CROSS:
            self.cross(message_type, payload, message)
        elif message_type in _SIMPLE:
            # A Run keeps its completion id at hand: its proposal is checked against it.
            run_id = None
            if isinstance(message, pb.RunCommandMessage):
                run_id = message.result_completion_id
            self.row = self.tx.append(self.row, message_type, payload, completion_id=run_id)
            self.simple(message_type, payload, message)
        else:
            raise AttemptFailure(
                UNSUPPORTED_FEATURE, f"perdure does not support {message_type.name} yet"
            )

    def simple(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        """The effect of a command that touches only this invocation (already appended)."""
        tx, row = self.tx, self.row
        key = row.key or ""
        if message_type == MessageType.OUTPUT:
            # The last Output wins; End turns it into the result.
            self.row = replace(row, result=payload)
        elif isinstance(message, pb.SetStateCommandMessage):
            tx.store.set_state(row.service, key, message.key, message.value.content)
        elif isinstance(message, pb.ClearStateCommandMessage):
            tx.store.clear_state(row.service, key, message.key)
        elif message_type == MessageType.CLEAR_ALL_STATE:
            tx.store.clear_all_state(row.service, key)
        elif isinstance(message, pb.GetLazyStateCommandMessage):
            value = tx.store.get_state(row.service, key, message.key)
            notification = pb.NotificationTemplate(completion_id=message.result_completion_id)
            if value is None:
                notification.void.SetInParent()
            else:
                notification.value.content = value
            self.append_notification(MessageType.GET_LAZY_STATE_COMPLETION, notification)
        elif isinstance(message, pb.GetLazyStateKeysCommandMessage):
            keys = [k for k, _ in tx.store.all_state(row.service, key)]
            notification = pb.NotificationTemplate(completion_id=message.result_completion_id)
            notification.state_keys.keys.extend(sorted(keys))
            self.append_notification(MessageType.GET_LAZY_STATE_KEYS_COMPLETION, notification)
        elif isinstance(message, pb.SleepCommandMessage):
            tx.add_timer(
                TimerRow(
                    None,
                    message.wake_up_time,
                    row.id,
                    TimerKind.SLEEP,
                    completion_id=message.result_completion_id,
                )
            )

    def promise(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        if self.row.service_ty != "WORKFLOW" or self.row.key is None:
            raise AttemptFailure(
                500, f"{self.row.service} is not a workflow: it has no durable promises"
            )
        self.row = self.tx.append(self.row, message_type, payload)
        if isinstance(message, pb.GetPromiseCommandMessage):
            self.row = promises.get_promise(self.tx, self.row, message)
        elif isinstance(message, pb.PeekPromiseCommandMessage):
            self.row = promises.peek_promise(self.tx, self.row, message)
        else:
            assert isinstance(message, pb.CompletePromiseCommandMessage)
            self.row = promises.complete_promise(self.tx, self.row, message)

    def cross(self, message_type: MessageType, payload: bytes, message: Message) -> None:
        """Append the command, store this row, then act on the other invocation (which may
        be this one: it then sees the stored row), then take up this row again."""
        tx = self.tx
        self.row = tx.append(self.row, message_type, payload)
        if isinstance(message, pb.AttachInvocationCommandMessage):
            self.row = attach.attach(tx, self.row, message)
            return
        if isinstance(message, pb.GetInvocationOutputCommandMessage):
            self.row = attach.get_output(tx, self.row, message)
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
        tx.put(self.row)
        if not signals.deliver(tx, target[0], target[1]):
            logger.info("signal from %s for unknown invocation %s dropped", self.row.id, target[0])
        stored = tx.get(self.row.id)
        assert stored is not None
        self.row = stored

    def append_notification(
        self, entry_type: MessageType, notification: pb.NotificationTemplate
    ) -> None:
        self.row = self.tx.append(
            self.row,
            entry_type,
            notification.SerializeToString(),
            completion_id=notification.completion_id,
        )

    # ---- control messages ------------------------------------------------------------------

    def propose_run_completion(
        self, message: pb.ProposeRunCompletionMessage, requested_ack: bool = False
    ) -> None:
        completion_id = message.result_completion_id
        if not self.is_run(completion_id):
            raise AttemptFailure(
                PROTOCOL_VIOLATION,
                f"ProposeRunCompletion for completion id {completion_id}, which is not the "
                "completion id of a Run command in the journal",
            )
        if self.tx.store.has_completion(self.row.id, completion_id, MessageType.RUN_COMPLETION):
            # One recorded result per step (S4): a second proposal is ignored.
            logger.info("ignoring a second run completion %d of %s", completion_id, self.row.id)
            return
        notification = pb.NotificationTemplate(completion_id=completion_id)
        if message.HasField("failure"):
            notification.failure.CopyFrom(message.failure)
        else:
            notification.value.content = message.value
        if requested_ack and (self.row.protocol_version or 0) >= 7:
            ack = (v7.ACK_TYPE, v7.ack_payload(completion_id))
            self.tx.forward_as[self.row.journal_length] = ack
        self.append_notification(MessageType.RUN_COMPLETION, notification)

    def is_run(self, completion_id: int) -> bool:
        """`completion_id` is the result id of a Run command of this journal (its row
        carries the id; journals stored before it did are read through)."""
        store = self.tx.store
        if store.has_completion(self.row.id, completion_id, MessageType.RUN):
            return True
        for entry in store.read_journal(self.row.id):
            if entry.type == MessageType.RUN and entry.completion_id is None:
                run = pb.RunCommandMessage()
                run.ParseFromString(entry.payload)
                if run.result_completion_id == completion_id:
                    return True
        return False

    def suspend(self, message: pb.SuspensionMessage) -> None:
        completions, waiting_signals, names = v7.waits(message)
        if not completions and not waiting_signals and not names:
            raise AttemptFailure(PROTOCOL_VIOLATION, "suspension waits on nothing")
        store = self.tx.store
        if store.has_notification(
            self.row.id, completions, waiting_signals, self.known, signal_names=names
        ):
            # The race: what it waits for was stored after its replay; resume at once. One
            # it replayed (e.g. the cancel signal every await also waits on) cannot wake it.
            start_attempt(self.tx, self.row)
            return
        row = self.tx.move(self.row, Event.SUSPENDED)
        self.row = self.tx.put(
            replace(
                row,
                waiting_completions=completions,
                waiting_signals=waiting_signals,
                waiting_named_signals=names,
            )
        )


def _error_details(message: pb.ErrorMessage) -> FailureDetails:
    """What the SDK said about its failure: stack trace and the command it concerns."""
    return FailureDetails(
        doc_code=JOURNAL_MISMATCH_FAILURE if message.code == JOURNAL_MISMATCH else SDK_FAILURE,
        stacktrace=message.stacktrace or None,
        command_index=(
            message.related_command_index if message.HasField("related_command_index") else None
        ),
        command_name=(
            message.related_command_name if message.HasField("related_command_name") else None
        ),
        command_type=(
            message.related_command_type if message.HasField("related_command_type") else None
        ),
    )
