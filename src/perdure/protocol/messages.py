"""Message type codes and the protobuf class of each.

Type namespaces: 0x0000-0x03FF control frames, 0x0400-0x7FFF commands, 0x8000-0xFBFF
notifications (all of which share `NotificationTemplate`'s shape), 0xFC00-0xFFFF custom.
"""

from __future__ import annotations

import enum

from google.protobuf.message import DecodeError, Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import ProtocolError, UnknownMessageType
from perdure.protocol.framing import Frame, encode_frame


class MessageType(enum.IntEnum):
    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    AWAITING_ON = 0x0006
    PROPOSE_RUN_COMPLETION_ACK = 0x0007

    INPUT = 0x0400
    OUTPUT = 0x0401
    GET_LAZY_STATE = 0x0402
    SET_STATE = 0x0403
    CLEAR_STATE = 0x0404
    CLEAR_ALL_STATE = 0x0405
    GET_LAZY_STATE_KEYS = 0x0406
    GET_EAGER_STATE = 0x0407
    GET_EAGER_STATE_KEYS = 0x0408
    GET_PROMISE = 0x0409
    PEEK_PROMISE = 0x040A
    COMPLETE_PROMISE = 0x040B
    SLEEP = 0x040C
    CALL = 0x040D
    ONE_WAY_CALL = 0x040E
    SEND_SIGNAL = 0x0410
    RUN = 0x0411
    ATTACH_INVOCATION = 0x0412
    GET_INVOCATION_OUTPUT = 0x0413
    COMPLETE_AWAKEABLE = 0x0414

    GET_LAZY_STATE_COMPLETION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION = 0x8006
    GET_PROMISE_COMPLETION = 0x8009
    PEEK_PROMISE_COMPLETION = 0x800A
    COMPLETE_PROMISE_COMPLETION = 0x800B
    SLEEP_COMPLETION = 0x800C
    CALL_COMPLETION = 0x800D
    CALL_INVOCATION_ID_COMPLETION = 0x800E
    RUN_COMPLETION = 0x8011
    ATTACH_INVOCATION_COMPLETION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION = 0x8013
    SIGNAL = 0xFBFF

    @property
    def is_command(self) -> bool:
        return 0x0400 <= self.value < 0x8000

    @property
    def is_notification(self) -> bool:
        return 0x8000 <= self.value < 0xFC00

    @property
    def is_control(self) -> bool:
        return self.value < 0x0400

    @property
    def entry_label(self) -> str:
        """Human name used in logs and journal views, e.g. 'Command: Run'."""
        words = self.name.replace("_COMPLETION", "").replace("_", " ").title()
        kind = (
            "Command" if self.is_command else "Notification" if self.is_notification else "Control"
        )
        return f"{kind}: {words.replace(' ', '')}"


_COMMAND_CLASSES: dict[MessageType, type[Message]] = {
    MessageType.START: pb.StartMessage,
    MessageType.SUSPENSION: pb.SuspensionMessage,
    MessageType.ERROR: pb.ErrorMessage,
    MessageType.END: pb.EndMessage,
    MessageType.COMMAND_ACK: pb.CommandAckMessage,
    MessageType.PROPOSE_RUN_COMPLETION: pb.ProposeRunCompletionMessage,
    MessageType.AWAITING_ON: pb.AwaitingOnMessage,
    MessageType.PROPOSE_RUN_COMPLETION_ACK: pb.ProposeRunCompletionAckMessage,
    MessageType.INPUT: pb.InputCommandMessage,
    MessageType.OUTPUT: pb.OutputCommandMessage,
    MessageType.GET_LAZY_STATE: pb.GetLazyStateCommandMessage,
    MessageType.SET_STATE: pb.SetStateCommandMessage,
    MessageType.CLEAR_STATE: pb.ClearStateCommandMessage,
    MessageType.CLEAR_ALL_STATE: pb.ClearAllStateCommandMessage,
    MessageType.GET_LAZY_STATE_KEYS: pb.GetLazyStateKeysCommandMessage,
    MessageType.GET_EAGER_STATE: pb.GetEagerStateCommandMessage,
    MessageType.GET_EAGER_STATE_KEYS: pb.GetEagerStateKeysCommandMessage,
    MessageType.GET_PROMISE: pb.GetPromiseCommandMessage,
    MessageType.PEEK_PROMISE: pb.PeekPromiseCommandMessage,
    MessageType.COMPLETE_PROMISE: pb.CompletePromiseCommandMessage,
    MessageType.SLEEP: pb.SleepCommandMessage,
    MessageType.CALL: pb.CallCommandMessage,
    MessageType.ONE_WAY_CALL: pb.OneWayCallCommandMessage,
    MessageType.SEND_SIGNAL: pb.SendSignalCommandMessage,
    MessageType.RUN: pb.RunCommandMessage,
    MessageType.ATTACH_INVOCATION: pb.AttachInvocationCommandMessage,
    MessageType.GET_INVOCATION_OUTPUT: pb.GetInvocationOutputCommandMessage,
    MessageType.COMPLETE_AWAKEABLE: pb.CompleteAwakeableCommandMessage,
}

# A class may serve several type codes (every notification is a NotificationTemplate),
# so encoding needs the type code explicitly for notifications.
_TYPE_OF_CLASS: dict[type[Message], MessageType] = {
    cls: code for code, cls in _COMMAND_CLASSES.items()
}


def message_class(message_type: MessageType) -> type[Message]:
    """The protobuf class that decodes frames of `message_type`."""
    if message_type.is_notification:
        return pb.NotificationTemplate
    return _COMMAND_CLASSES[message_type]


def message_type_of(message: Message) -> MessageType:
    """Type code of a control frame or command message (not of a notification)."""
    try:
        return _TYPE_OF_CLASS[type(message)]
    except KeyError:
        raise ProtocolError(
            f"{type(message).__name__} has no unique type code; pass it explicitly"
        ) from None


def encode_message(
    message: Message, message_type: MessageType | None = None, flags: int = 0
) -> bytes:
    """Frame `message`. Notifications need `message_type` since they share one class."""
    code = message_type if message_type is not None else message_type_of(message)
    return encode_frame(code, message.SerializeToString(), flags)


def parse_type(code: int) -> MessageType:
    try:
        return MessageType(code)
    except ValueError:
        raise UnknownMessageType(code) from None


def decode_message(frame: Frame) -> tuple[MessageType, Message]:
    """Decode a frame into (type, protobuf message). Unknown fields are ignored."""
    message_type = parse_type(frame.type)
    message = message_class(message_type)()
    try:
        message.ParseFromString(frame.payload)
    except DecodeError as exc:
        raise ProtocolError(f"malformed {message_type.name} payload: {exc}") from exc
    # Unknown fields (from a newer peer) must not take part in replay comparisons.
    message.DiscardUnknownFields()
    return message_type, message


def decode_payload(message_type: MessageType, payload: bytes) -> Message:
    """Decode a stored payload (e.g. a journal entry) of a known type."""
    message = message_class(message_type)()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ProtocolError(f"malformed {message_type.name} payload: {exc}") from exc
    message.DiscardUnknownFields()
    return message
