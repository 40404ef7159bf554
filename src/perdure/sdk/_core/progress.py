"""What the journal machine hands back to its driver: results, progress answers, errors."""

from __future__ import annotations

from dataclasses import dataclass

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType

CLOSED = 598
INTERNAL = 500


@dataclass(frozen=True, slots=True)
class CommandRef:
    """The journal command an error relates to."""

    index: int
    type: MessageType
    name: str = ""


class MachineError(Exception):
    """The attempt failed; the ErrorMessage is already in the output (unless it was closed)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        stacktrace: str = "",
        related: CommandRef | None = None,
        next_retry_delay_ms: int | None = None,
    ) -> None:
        super().__init__(f"({code}) {message}")
        self.code = code
        self.message = message
        self.stacktrace = stacktrace
        self.related = related
        self.next_retry_delay_ms = next_retry_delay_ms


@dataclass(frozen=True, slots=True)
class Input:
    invocation_id: str
    random_seed: int
    key: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class CallHandles:
    invocation_id_handle: int
    result_handle: int


@dataclass(frozen=True, slots=True)
class RunHandle:
    handle: int
    replayed: bool
    """True if the result is in the journal: the closure must not run again."""


@dataclass(frozen=True, slots=True)
class AnyCompleted:
    """The await can resolve: take the notifications."""


@dataclass(frozen=True, slots=True)
class WaitExternalProgress:
    """Nothing to do but wait: for input, or for a running closure to propose its result."""

    waiting_input: bool
    waiting_run_proposal: bool


@dataclass(frozen=True, slots=True)
class ExecuteRun:
    """Run the closure of this `sys_run` handle now, then propose its result."""

    handle: int


@dataclass(frozen=True, slots=True)
class CancelSignalReceived:
    """The invocation was cancelled; child calls were sent a cancel signal."""


@dataclass(frozen=True, slots=True)
class Suspended:
    """The SuspensionMessage is written; the attempt is over."""


Progress = AnyCompleted | WaitExternalProgress | ExecuteRun | CancelSignalReceived | Suspended


def error_message(error: MachineError) -> pb.ErrorMessage:
    """The ErrorMessage frame of `error` (optional fields only when known)."""
    message = pb.ErrorMessage(code=error.code, message=error.message)
    if error.stacktrace:
        message.stacktrace = error.stacktrace
    if error.related is not None:
        message.related_command_index = error.related.index
        message.related_command_type = error.related.type
        if error.related.name:
            message.related_command_name = error.related.name
    if error.next_retry_delay_ms is not None:
        message.next_retry_delay = error.next_retry_delay_ms
    return message
