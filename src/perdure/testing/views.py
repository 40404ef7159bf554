"""What a test asserts on: one invocation's status, journal (decoded) and state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import ProtocolError
from perdure.protocol.messages import MessageType, decode_payload
from perdure.store.api import InvocationRow, JournalEntryRow


def decode_value(data: bytes) -> Any:
    """JSON when it parses, the bytes otherwise (the examples' and most handlers' serde)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal entry. `type` is the label the admin API's `sys_journal` shows
    ("Command: Run", "Notification: Run", ...); `kind` is the message type's name
    (``RUN``, ``RUN_COMPLETION``, ``SLEEP``, ...); `message` the decoded protobuf."""

    index: int
    kind: str
    type: str
    name: str | None
    message: Message | None

    @property
    def is_command(self) -> bool:
        return self.type.startswith("Command")

    @property
    def value(self) -> Any:
        """The value the entry carries (a run's result, an output, a state value, a
        promise value), decoded; None if it carries none."""
        message = self.message
        if message is None:
            return None
        for name in ("value", "result"):
            if name in message.DESCRIPTOR.fields_by_name and message.HasField(name):
                inner = getattr(message, name)
                if isinstance(inner, pb.Value):
                    return decode_value(inner.content)
        return None

    def __str__(self) -> str:
        return f"#{self.index} {self.type}" + (f" {self.name!r}" if self.name else "")


def journal_entry(row: JournalEntryRow) -> JournalEntry:
    return entry_of(row.index, row.type, row.payload)


def entry_of(index: int, code: int, payload: bytes) -> JournalEntry:
    try:
        message_type = MessageType(code)
    except ValueError:
        return JournalEntry(index, f"0x{code:04x}", f"Unknown: 0x{code:04x}", None, None)
    try:
        message: Message | None = decode_payload(message_type, payload)
    except ProtocolError:
        message = None
    name = getattr(message, "name", None) if message is not None else None
    return JournalEntry(
        index, message_type.name, message_type.entry_label, name if name else None, message
    )


@dataclass(frozen=True, slots=True)
class Failure:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class InvocationView:
    """A snapshot of one invocation, read from the store.

    `status` is perdure's (and restate's) name: ``pending``, ``scheduled``, ``ready``,
    ``running``, ``suspended``, ``backing-off``, ``paused``, ``completed``. `result` is
    the decoded output of a successful invocation; `failure` the terminal failure of one
    that failed. `state` holds the key's state (JSON-decoded where it parses) for object
    and workflow invocations.
    """

    id: str
    service: str
    handler: str
    key: str | None
    status: str
    attempts: int
    retry_count: int
    journal: list[JournalEntry] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    failure: Failure | None = None
    last_failure: str | None = None

    @property
    def target(self) -> str:
        return "/".join(p for p in (self.service, self.key, self.handler) if p is not None)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def entries(self, kind: str | None = None, name: str | None = None) -> list[JournalEntry]:
        """The journal entries of that `kind` (``RUN``, ``SLEEP``...) and/or `name`."""
        return [
            e
            for e in self.journal
            if (kind is None or e.kind == kind) and (name is None or e.name == name)
        ]


def invocation_view(
    row: InvocationRow, journal: list[JournalEntryRow], state: list[tuple[bytes, bytes]]
) -> InvocationView:
    result: Any = None
    failure = None
    if row.result is not None:
        output = pb.OutputCommandMessage()
        output.ParseFromString(row.result)
        if output.HasField("failure"):
            failure = Failure(output.failure.code, output.failure.message)
        elif output.HasField("value"):
            result = decode_value(output.value.content)
    return InvocationView(
        id=row.id,
        service=row.service,
        handler=row.handler,
        key=row.key,
        status=row.status.value,
        attempts=row.attempt,
        retry_count=row.retry_count,
        journal=[journal_entry(e) for e in journal],
        state={k.decode("utf-8", "replace"): decode_value(v) for k, v in state},
        result=result,
        failure=failure,
        last_failure=row.last_failure,
    )
