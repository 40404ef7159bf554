"""Determinism checks: does a replayed journal command match what the code does now?

On replay every command the handler issues is compared with the next command of the stored
journal. Most commands must be equal field by field; a few fields are legitimately different
between executions and are ignored:

- Input: nothing is compared (the server wrote it).
- Sleep: only the name (``wake_up_time`` is computed from the wall clock).
- OneWayCall: everything but ``invoke_time`` (a delayed send is relative to now).
- GetState: either form may be in the journal (eager with the value inline, or lazy); only
  the key, the name and, for the lazy form, the completion id are compared.

The functions return a human description of the difference, or None when they match.
"""

from __future__ import annotations

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import JOURNAL_MISMATCH
from perdure.protocol.messages import MessageType
from perdure.sdk._core.progress import CommandRef, MachineError

_IGNORED_FIELDS: dict[type[Message], frozenset[str]] = {
    pb.OneWayCallCommandMessage: frozenset({"invoke_time"}),
}


def command_difference(actual: Message, expected: Message) -> str | None:
    """Differences between a journaled command and the one the code issues now."""
    if isinstance(actual, pb.InputCommandMessage):
        return None
    if isinstance(actual, pb.SleepCommandMessage):
        return _field_diffs(actual, expected, only=frozenset({"name"}))
    ignored = _IGNORED_FIELDS.get(type(actual), frozenset())
    return _field_diffs(actual, expected, ignore=ignored)


def state_get_difference(
    actual: Message, key: bytes | None, name: str, completion_id: int
) -> str | None:
    """GetState(Keys) replay: the journal may hold the eager or the lazy form.

    `key` is None for GetStateKeys, which has no key.
    """
    diffs: list[str] = []
    if key is not None and actual.key != key:  # type: ignore[attr-defined]
        diffs.append(f"key: {_show(actual.key)} != {_show(key)}")  # type: ignore[attr-defined]
    if actual.name != name:  # type: ignore[attr-defined]
        diffs.append(f"name: {_show(actual.name)} != {_show(name)}")  # type: ignore[attr-defined]
    lazy_id = getattr(actual, "result_completion_id", completion_id)
    if lazy_id != completion_id:
        diffs.append(f"result_completion_id: {lazy_id} != {completion_id}")
    return "\n".join(diffs) or None


def _field_diffs(
    actual: Message,
    expected: Message,
    *,
    ignore: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> str | None:
    diffs: list[str] = []
    for fd in actual.DESCRIPTOR.fields:
        if fd.name in ignore or (only is not None and fd.name not in only):
            continue
        if not _field_equal(actual, expected, fd.name, fd.containing_oneof is not None):
            diffs.append(
                f"{fd.name}: {_describe(actual, fd.name)} != {_describe(expected, fd.name)}"
            )
    return "\n".join(diffs) or None


def _field_equal(a: Message, b: Message, name: str, in_oneof: bool) -> bool:
    if (in_oneof or _has_presence(a, name)) and a.HasField(name) != b.HasField(name):
        return False
    return bool(getattr(a, name) == getattr(b, name))


def _has_presence(message: Message, name: str) -> bool:
    fd = message.DESCRIPTOR.fields_by_name[name]
    return bool(fd.has_presence)


def _describe(message: Message, name: str) -> str:
    fd = message.DESCRIPTOR.fields_by_name[name]
    if (fd.containing_oneof is not None or fd.has_presence) and not message.HasField(name):
        return "<empty>"
    value = getattr(message, name)
    if isinstance(value, Message):
        return "{" + str(value).strip().replace("\n", ", ") + "}"
    if isinstance(value, bytes | str):
        return _show(value)
    return str(value) if not hasattr(value, "__len__") else str(list(value))


def _show(value: bytes | str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    return value


def type_label(message_type: MessageType) -> str:
    """'run', 'sleep', 'get state'... as the core names commands in its messages."""
    return _LABELS.get(message_type, message_type.name.lower().replace("_", " "))


_LABELS = {
    MessageType.GET_LAZY_STATE: "get state",
    MessageType.GET_EAGER_STATE: "get state",
    MessageType.GET_LAZY_STATE_KEYS: "get state keys",
    MessageType.GET_EAGER_STATE_KEYS: "get state keys",
    MessageType.ONE_WAY_CALL: "one way call",
}


_PREAMBLE = (
    "Found a mismatch between the code paths taken during the previous execution and the "
    "paths taken during this execution.\nThis typically happens when some parts of the code "
    "are non-deterministic.\n"
)


def type_mismatch(actual: MessageType, expected: MessageType, ref: CommandRef) -> MachineError:
    """The journal holds another kind of command at this index (570)."""
    return MachineError(
        JOURNAL_MISMATCH,
        f"{_PREAMBLE} - The previous execution ran and recorded the following: "
        f"'{type_label(actual)}' (index '{ref.index}')\n - The current execution attempts to "
        f"perform the following: '{type_label(expected)}'",
        related=ref,
    )


def field_mismatch(message_type: MessageType, difference: str, ref: CommandRef) -> MachineError:
    """Same kind of command, different fields (570)."""
    indented = "\n".join("   " + line for line in difference.splitlines())
    return MachineError(
        JOURNAL_MISMATCH,
        f"{_PREAMBLE}- The mismatch happened while executing '{type_label(message_type)}' "
        f"(index '{ref.index}')\n- Difference:\n{indented}",
        related=ref,
    )
