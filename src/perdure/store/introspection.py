"""Values of the introspection views that only exist inside stored protobuf payloads.

Every store's views (`POST /query`, named like restate's system tables) show the same
derived values: an entry's type label and name (its JSON: `perdure.store.entry_json`), an
output's result kind, failure text and value, lossy UTF-8 of blobs. These functions
compute them from the stored bytes, once, for every store: SQLite calls them as SQL
functions, PostgreSQL fills some at write time and decodes the others after fetching
(see `perdure.store.postgres.views`).
Each returns None for a missing or undecodable input, never raises. Some render values
as restate does (`[500 Internal] …`, `PT86400S`, a suspension's future).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType, decode_payload
from perdure.store.partitioning import invocation_partition_key


def output(blob: bytes | None) -> pb.OutputCommandMessage | None:
    if blob is None:
        return None
    message = pb.OutputCommandMessage()
    try:
        message.ParseFromString(bytes(blob))
    except Exception:
        return None
    return message


def output_result(blob: bytes | None) -> str | None:
    """'success' or 'failure' of a stored OutputCommandMessage."""
    message = output(blob)
    if message is None:
        return None
    return "failure" if message.HasField("failure") else "success"


def output_failure(blob: bytes | None) -> str | None:
    """'[code] message' of a failed output."""
    message = output(blob)
    if message is None or not message.HasField("failure"):
        return None
    return f"[{message.failure.code}] {message.failure.message}"


def output_value(blob: bytes | None) -> bytes | None:
    """The value bytes of a successful output."""
    message = output(blob)
    if message is None or not message.HasField("value"):
        return None
    return bytes(message.value.content)


def entry_type(code: int | None) -> str | None:
    """'Command: Run', 'Notification: Call', … (or 'Unknown: 0x…')."""
    if code is None:
        return None
    try:
        return MessageType(code).entry_label
    except ValueError:
        return f"Unknown: 0x{code:04x}"


def _decoded(code: int | None, payload: bytes | None) -> Message | None:
    if code is None or payload is None:
        return None
    try:
        return decode_payload(MessageType(code), bytes(payload))
    except Exception:
        return None


def entry_name(code: int | None, payload: bytes | None) -> str | None:
    """A command's name ("" when it has none, as restate prints it); None for anything
    else (notifications have no name)."""
    try:
        if code is None or not MessageType(code).is_command:
            return None
    except ValueError:
        return None
    message = _decoded(code, payload)
    name = message.entry_name if isinstance(message, pb.SendSignalCommandMessage) else None
    name = name if name is not None else getattr(message, "name", None)
    return name if isinstance(name, str) else ""


def callee_id(code: int | None, payload: bytes | None) -> str | None:
    """The callee's invocation id a CallInvocationId notification carries."""
    if code != MessageType.CALL_INVOCATION_ID_COMPLETION:
        return None
    message = _decoded(code, payload)
    return message.invocation_id if isinstance(message, pb.NotificationTemplate) else None


def utf8(blob: bytes | str | None) -> str | None:
    """Lossy UTF-8 text of a blob (invalid bytes become U+FFFD)."""
    if blob is None:
        return None
    if isinstance(blob, str):
        return blob
    return bytes(blob).decode("utf-8", errors="replace")


# restate's names for the codes of `InvocationError` (`errors.rs` `codes!`).
CODE_NAMES = {
    400: "Bad request",
    404: "Not found",
    409: "Aborted",
    410: "Gone",
    415: "Unsupported media type",
    470: "Not ready",
    500: "Internal",
    570: "Journal mismatch",
    571: "Protocol violation",
    572: "Awaiting two async results",
    573: "Unsupported feature",
}


def failure_text(code: int | None, message: str | None, stacktrace: str | None) -> str | None:
    """An attempt's failure as restate prints it: `[500 Internal] message`, then the
    stack trace on the next line."""
    if message is None:
        return None
    label = f"{code} {CODE_NAMES[code]}" if code in CODE_NAMES else str(code)
    text = f"[{label}] {message}"
    return f"{text}\n{stacktrace}" if stacktrace else text


# restate reports a failure's command type through its older entry types, which only have
# these (`InvocationErrorRelatedCommandV2::best_effort_into_v1`); any other is not shown.
REPORTED_COMMAND_TYPES = {
    MessageType.RUN: "Run",
    MessageType.CALL: "Call",
    MessageType.ONE_WAY_CALL: "OneWayCall",
    MessageType.COMPLETE_AWAKEABLE: "CompleteAwakeable",
    MessageType.SET_STATE: "SetState",
    MessageType.GET_LAZY_STATE: "GetState",
    MessageType.GET_EAGER_STATE: "GetState",
    MessageType.GET_LAZY_STATE_KEYS: "GetStateKeys",
    MessageType.GET_EAGER_STATE_KEYS: "GetStateKeys",
}


def command_type(code: int | None) -> str | None:
    """A failure's command type as restate names it (`Run`, `Call`, `GetState`)."""
    try:
        return None if code is None else REPORTED_COMMAND_TYPES.get(MessageType(code))
    except ValueError:
        return None


def iso_duration(ms: int | None) -> str | None:
    """A duration as restate's query engine prints it (chrono: `PT86400S`, `PT0.5S`)."""
    if ms is None:
        return None
    if ms == 0:
        return "P0D"
    seconds, rest = divmod(int(ms), 1000)
    fraction = f".{rest:03d}".rstrip("0") if rest else ""
    return f"PT{seconds}{fraction}S"


def id_list(text: str | None) -> str | None:
    """Stored `1,17` as a JSON list (rendered as a list, see `typed_row`)."""
    if text is None:
        return None
    return json.dumps(sorted(int(i) for i in text.split(",")) if text else [])


def waiting_future(completions: str | None, signals: str | None, names: str | None) -> str | None:
    """A V6 suspension as restate describes it: one `Unknown` combinator of its singles,
    completions, then signal indexes, then names, each sorted (restate keeps sets: no order)."""
    if completions is None or signals is None:
        return None
    ids = sorted(int(c) for c in completions.split(",") if c)
    indexes = sorted(int(s) for s in signals.split(",") if s)
    singles: list[object] = [{"Single": {"CompletionId": c}} for c in ids]
    singles += [{"Single": {"SignalIndex": s}} for s in indexes]
    singles += [{"Single": {"SignalName": n}} for n in sorted(json.loads(names or "[]"))]
    return json.dumps({"Unknown": singles}, separators=(",", ":"))


def waiting_future_of_lists(
    completions: Sequence[int] | None, signals: Sequence[int] | None, names: Sequence[str] | None
) -> str | None:
    """`waiting_future` of the lists a store keeps (PostgreSQL's arrays)."""
    if completions is None or signals is None:
        return None
    return waiting_future(
        ",".join(str(c) for c in completions),
        ",".join(str(s) for s in signals),
        json.dumps(list(names or ())),
    )


def partition_key(invocation_id: str | None) -> str | None:
    """The u64 partition key of an invocation id, as decimal text: SQLite integers are
    signed 64-bit (`typed_row` makes it a number again)."""
    return None if invocation_id is None else str(invocation_partition_key(invocation_id))


# Columns the views cannot type as restate's query engine does (SQLite has no list or
# boolean type): JSON lists, and booleans as 0/1. `typed_row` turns them back.
LIST_COLUMNS = frozenset({"suspended_waiting_for_completions", "suspended_waiting_for_signals"})
BOOLEAN_COLUMNS = frozenset({"completed", "public"})
U64_COLUMNS = frozenset({"partition_key"})


def typed_row(names: Sequence[str], row: Sequence[object]) -> tuple[object, ...]:
    """A result row with the list and boolean columns of the views as lists and bools."""
    out: list[object] = []
    for name, value in zip(names, row, strict=True):
        if name in LIST_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        elif name in U64_COLUMNS and isinstance(value, str) and value.isdigit():
            value = int(value)
        elif name in BOOLEAN_COLUMNS and isinstance(value, int) and value in (0, 1):
            value = bool(value)
        out.append(value)
    return tuple(out)
