"""The sans-IO journal machine: one invocation attempt, bytes in and bytes out.

Theory of operation
-------------------
The server opens an attempt with a StartMessage followed by the stored journal (``known_entries``
messages: the Input command, the commands the handler issued in earlier attempts, and the
notifications that answered them). The machine buffers all of it before user code runs. Then
the handler's operations (``sys_*``) are checked, one by one, against the stored commands:
*replay*. Once the last stored command has been consumed the machine is *processing*: each new
command is encoded into the output buffer, to be sent to the server.

Results never come back from ``sys_*`` directly. A completable command yields a *handle*; user
code awaits handles with `do_progress` (which says what must happen before the await can
resolve) and reads results with `take_notification`. Notifications keep arriving through
`notify_input` while the handler runs (bidirectional streaming). When the input is closed and an
await still cannot resolve, the machine writes a SuspensionMessage listing what it waits for; the
server starts a new attempt when one of those arrives.

Nothing here performs I/O, reads a clock, or knows about asyncio: the driver (`invocation.py`)
feeds bytes, calls methods and ships `take_output()` to the server. The ``sys_*`` commands
are in `perdure.sdk._core.commands`; this module holds the states, transitions and mechanics.

States and transitions (an illegal one is a bug and raises `AssertionError`)::

    WAITING_START           --StartMessage-------------------------> WAITING_REPLAY_ENTRIES
    WAITING_REPLAY_ENTRIES  --entry (not the last)-----------------> WAITING_REPLAY_ENTRIES
    WAITING_REPLAY_ENTRIES  --last of known_entries----------------> REPLAYING
    REPLAYING               --sys_* consuming a command, more left--> REPLAYING
    REPLAYING               --sys_* consuming the last command------> PROCESSING
    PROCESSING              --sys_* writing a command---------------> PROCESSING
    PROCESSING              --sys_end / await with input closed-----> CLOSED (End / Suspension)
    any                     --error (mismatch, protocol, user)------> CLOSED (ErrorMessage)

Protocol versions 5 and 6 are spoken. V6 adds ``StartMessage.random_seed`` (V5 derives the seed
from the invocation id) and failure metadata (dropped on V5).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import (
    JOURNAL_MISMATCH,
    PROTOCOL_VIOLATION,
    ProtocolError,
    UnknownMessageType,
)
from perdure.protocol.framing import FrameDecoder
from perdure.protocol.ids import FIRST_AWAKEABLE_SIGNAL_INDEX
from perdure.protocol.messages import MessageType, decode_message, encode_message
from perdure.sdk._core import replay
from perdure.sdk._core.notifications import (
    CANCEL_HANDLE,
    AllOf,
    AnyOf,
    Awaiting,
    CallInvocationId,
    CompletionId,
    Failure,
    Notifications,
    NotificationValue,
    decode_notification,
    handles_of,
)
from perdure.sdk._core.progress import (
    CLOSED,
    INTERNAL,
    AnyCompleted,
    CancelSignalReceived,
    CommandRef,
    ExecuteRun,
    MachineError,
    Progress,
    Suspended,
    WaitExternalProgress,
    error_message,
)


class State(enum.Enum):
    WAITING_START = "waiting start"
    WAITING_REPLAY_ENTRIES = "waiting replay entries"
    REPLAYING = "replaying"
    PROCESSING = "processing"
    CLOSED = "closed"


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.WAITING_START: frozenset({State.WAITING_REPLAY_ENTRIES, State.CLOSED}),
    State.WAITING_REPLAY_ENTRIES: frozenset({State.REPLAYING, State.CLOSED}),
    State.REPLAYING: frozenset({State.PROCESSING, State.CLOSED}),
    State.PROCESSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


@dataclass(slots=True)
class PendingRun:
    command_index: int
    name: str
    executing: bool = False


@dataclass(slots=True)
class TrackedCall:
    """A child call to cancel when this invocation is cancelled."""

    handle: int
    invocation_id: str | None = None


# -- The machine ------------------------------------------------------------------------------


class JournalMachine:
    """The state machine of one attempt: input, replay, progress, suspension, errors.

    The handler-facing commands (``sys_*``) live in `perdure.sdk._core.commands.Machine`, which
    builds each command and hands it to the journal mechanics below.
    """

    def __init__(self, protocol_version: int, *, implicit_cancellation: bool = True) -> None:
        if protocol_version not in (5, 6):
            raise ValueError(f"protocol version {protocol_version} is not supported (5 or 6)")
        self.protocol_version = protocol_version
        self._implicit_cancellation = implicit_cancellation
        self._state = State.WAITING_START
        self._decoder = FrameDecoder()
        self._output: list[bytes] = []
        self._output_closed = False
        self._input_closed = False
        self._error: MachineError | None = None
        self._suspended = False
        # Start information
        self._start: pb.StartMessage | None = None
        self._received = 0
        self._commands: deque[tuple[MessageType, Message]] = deque()
        self._eager: dict[str, bytes | None] = {}
        self._eager_partial = True
        # Journal counters
        self._command_index = -1
        self._entry_type = MessageType.START
        self._entry_name = ""
        self._next_completion_id = 1
        self._next_signal_index = FIRST_AWAKEABLE_SIGNAL_INDEX
        self._processing_first_entry = False
        # Results
        self._notifications = Notifications()
        self._runs: dict[int, PendingRun] = {}
        self._tracked: list[TrackedCall] = []

    # -- Inspection ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def is_ready_to_execute(self) -> bool:
        """True once Start and every known entry arrived; raises if the attempt failed."""
        if self._error is not None:
            raise self._error
        return self._state in (State.REPLAYING, State.PROCESSING)

    def is_replaying(self) -> bool:
        return self._state is State.REPLAYING

    def is_completed(self, handle: int) -> bool:
        """True if `handle` has a result to take (False once it was taken)."""
        if self._state not in (State.REPLAYING, State.PROCESSING):
            return False
        return self._notifications.is_completed(handle)

    def take_output(self) -> bytes:
        out = b"".join(self._output)
        self._output.clear()
        return out

    @property
    def is_output_closed(self) -> bool:
        """True once a terminal message (End, Suspension, Error) was written."""
        return self._output_closed

    # -- Input ------------------------------------------------------------------------------

    def notify_input(self, data: bytes) -> None:
        """Feed bytes of the request body; decoding errors fail the attempt."""
        try:
            frames = self._decoder.feed(data)
            for frame in frames:
                if self._error is not None:
                    return
                message_type, message = decode_message(frame)
                self._on_message(message_type, message)
        except UnknownMessageType as exc:
            self._fail_quietly(MachineError(INTERNAL, f"cannot decode the input: {exc}"))
        except ProtocolError as exc:
            self._fail_quietly(MachineError(INTERNAL, f"cannot decode the input: {exc}"))
        except MachineError as exc:
            self._fail_quietly(exc)  # no-op if `_fail` already recorded it

    def notify_input_closed(self) -> None:
        self._input_closed = True
        if self._state in (State.WAITING_START, State.WAITING_REPLAY_ENTRIES):
            self._fail_quietly(
                MachineError(
                    PROTOCOL_VIOLATION,
                    "The input was closed while still waiting to receive all journal to replay",
                )
            )

    def notify_error(
        self,
        message: str,
        stacktrace: str = "",
        *,
        code: int = INTERNAL,
        next_retry_delay_ms: int | None = None,
    ) -> None:
        """The handler failed with a retryable error: write ErrorMessage, close."""
        self._fail_quietly(
            MachineError(
                code, message, stacktrace=stacktrace, next_retry_delay_ms=next_retry_delay_ms
            )
        )

    def _on_message(self, message_type: MessageType, message: Message) -> None:
        if self._state is State.CLOSED:
            return  # late input after End/Suspension/Error is irrelevant
        if message_type is MessageType.START:
            if self._state is not State.WAITING_START:
                self._fail(MachineError(PROTOCOL_VIOLATION, "unexpected second StartMessage"))
            self._on_start(message)  # type: ignore[arg-type]
        elif message_type.is_command:
            if self._state is not State.WAITING_REPLAY_ENTRIES:
                self._fail(
                    MachineError(
                        PROTOCOL_VIOLATION,
                        "Expected entry messages only when waiting replay entries",
                    )
                )
            self._commands.append((message_type, message))
            self._on_entry()
        elif message_type.is_notification:
            if self._state is State.WAITING_START:
                self._fail(MachineError(PROTOCOL_VIOLATION, "notification before StartMessage"))
            nid, value = decode_notification(message_type, message)  # type: ignore[arg-type]
            self._notifications.enqueue(nid, value)
            self._on_entry()
        else:
            self._fail(
                MachineError(
                    PROTOCOL_VIOLATION,
                    f"Expected incoming message to be an entry, got {message_type.name}",
                )
            )

    def _on_start(self, start: pb.StartMessage) -> None:
        self._start = start
        try:
            self._eager = {e.key.decode(): e.value for e in start.state_map}
        except UnicodeDecodeError:
            self._fail(MachineError(INTERNAL, "Cannot convert an eager state key into UTF-8"))
        self._eager_partial = start.partial_state
        if start.known_entries == 0:
            self._fail(MachineError(INTERNAL, "Known entries is zero, expected >= 1"))
        self._move(State.WAITING_REPLAY_ENTRIES)

    def _on_entry(self) -> None:
        if self._state is not State.WAITING_REPLAY_ENTRIES:
            return
        self._received += 1
        if self._received == self._expect_start().known_entries:
            self._move(State.REPLAYING)

    # -- Awaiting -----------------------------------------------------------------------------

    def do_progress(self, awaiting: Awaiting | Sequence[int]) -> Progress:
        """What must happen before `awaiting` resolves (a sequence means any of them)."""
        if isinstance(awaiting, list | tuple):
            awaiting = AnyOf(tuple(awaiting))
        assert isinstance(awaiting, int | AnyOf | AllOf)
        if not self._implicit_cancellation:
            return self._progress(awaiting)
        progress = self._progress(AnyOf((awaiting, CANCEL_HANDLE)))
        if not isinstance(progress, AnyCompleted) or not self._notifications.is_completed(
            CANCEL_HANDLE
        ):
            return progress
        return self._cancel_children()

    def _cancel_children(self) -> Progress:
        # Every child call's invocation id must be known before it can be cancelled.
        for tracked in self._tracked:
            if tracked.invocation_id is not None:
                continue
            progress = self._progress(tracked.handle)
            if not isinstance(progress, AnyCompleted):
                return progress
            value = self._notifications.peek(tracked.handle)
            assert isinstance(value, CallInvocationId)
            tracked.invocation_id = value.invocation_id
        tracked_calls, self._tracked = self._tracked, []
        for tracked in tracked_calls:
            assert tracked.invocation_id is not None
            self.sys_cancel_invocation(tracked.invocation_id)
        self._notifications.take(CANCEL_HANDLE)
        return CancelSignalReceived()

    def sys_cancel_invocation(self, target_invocation_id: str) -> None:
        """Send the CANCEL signal to another invocation (also used for child calls)."""
        message = pb.SendSignalCommandMessage(target_invocation_id=target_invocation_id, idx=1)
        message.void.SetInParent()
        self._replay_or_write(MessageType.SEND_SIGNAL, message, "")

    def _progress(self, awaiting: Awaiting) -> Progress:
        if self._state is State.CLOSED:
            if self._suspended:
                return Suspended()
            raise self._error or MachineError(CLOSED, "the attempt is already closed")
        if self._state not in (State.REPLAYING, State.PROCESSING):
            self._fail(MachineError(PROTOCOL_VIOLATION, f"await in state {self._state.value}"))
        pending = self._notifications.try_resolve(awaiting)
        if pending is None:
            return AnyCompleted()
        if self._state is State.REPLAYING:
            self._fail(self._uncompleted_replay_await(pending))
        handles = handles_of(pending)
        for handle in handles:
            run = self._runs.get(handle)
            if run is not None and not run.executing:
                run.executing = True
                return ExecuteRun(handle)
        waiting_run = any(h in self._runs and self._runs[h].executing for h in handles)
        if not self._input_closed:
            return WaitExternalProgress(waiting_input=True, waiting_run_proposal=waiting_run)
        if waiting_run:
            return WaitExternalProgress(waiting_input=False, waiting_run_proposal=True)
        self._suspend(pending)
        return Suspended()

    def _uncompleted_replay_await(self, pending: Awaiting) -> MachineError:
        waiting = self._notifications.waiting_on(pending)
        related = None
        for handle in handles_of(pending):
            if handle in self._runs:
                run = self._runs[handle]
                related = CommandRef(run.command_index, MessageType.RUN, run.name)
        return MachineError(
            JOURNAL_MISMATCH,
            "Found a mismatch between the code paths taken during the previous execution and "
            "the paths taken during this execution.\n'await' could not be replayed. This usually "
            "means the code was mutated adding an 'await' without registering a new service "
            f"revision.\nAwaiting completions {waiting.completions}, signals {waiting.signals}, "
            f"named signals {waiting.named_signals}",
            related=related,
        )

    def _suspend(self, pending: Awaiting) -> None:
        waiting = self._notifications.waiting_on(pending)
        self._send(
            pb.SuspensionMessage(
                waiting_completions=waiting.completions,
                waiting_signals=waiting.signals,
                waiting_named_signals=waiting.named_signals,
            )
        )
        self._suspended = True
        self._close()

    def take_notification(self, handle: int) -> NotificationValue | None:
        """Remove and return the result of `handle`; None if it is not there yet."""
        if self._state not in (State.REPLAYING, State.PROCESSING):
            raise self._error or MachineError(CLOSED, "the attempt is already closed")
        value = self._notifications.take(handle)
        if isinstance(value, CallInvocationId):
            for tracked in self._tracked:
                if tracked.handle == handle:
                    tracked.invocation_id = value.invocation_id
        return value

    # -- Journal mechanics --------------------------------------------------------------------

    def _completable(
        self, message_type: MessageType, message: Message, name: str, completion_id: int
    ) -> int:
        self._replay_or_write(message_type, message, name)
        return self._notifications.new_handle(CompletionId(completion_id))

    def _replay_or_write(self, message_type: MessageType, expected: Message, name: str) -> Message:
        self._enter(message_type, name)
        if self._state is State.PROCESSING:
            self._processing_first_entry = False
            self._send(expected)
            return expected
        if self._state is not State.REPLAYING:
            self._fail_unexpected(message_type)
        actual_type, actual = self._pop_command(message_type)
        if actual_type is not message_type:
            self._fail(self._type_mismatch(actual_type, message_type))
        difference = replay.command_difference(actual, expected)
        if difference is not None:
            self._fail(self._mismatch(message_type, difference))
        return actual

    def _replay_get(
        self, lazy_type: MessageType, completion_id: int, key: str | None, name: str
    ) -> Message:
        actual_type, actual = self._pop_command(lazy_type)
        eager_type = (
            MessageType.GET_EAGER_STATE
            if lazy_type is MessageType.GET_LAZY_STATE
            else MessageType.GET_EAGER_STATE_KEYS
        )
        if actual_type not in (lazy_type, eager_type):
            self._fail(self._type_mismatch(actual_type, lazy_type))
        self._entry_type = actual_type
        key_bytes = key.encode() if key is not None else None
        difference = replay.state_get_difference(actual, key_bytes, name, completion_id)
        if difference is not None:
            self._fail(self._mismatch(actual_type, difference))
        return actual

    def _pop_command(self, expected: MessageType) -> tuple[MessageType, Message]:
        if not self._commands:
            self._fail(
                MachineError(
                    PROTOCOL_VIOLATION,
                    "The execution replay ended unexpectedly. Expecting to read "
                    f"'{replay.type_label(expected)}' from the recorded journal, but the "
                    "buffered messages were already drained.",
                    related=self._current_ref(),
                )
            )
        entry = self._commands.popleft()
        if not self._commands:
            # Replay ends when the last journal command is consumed, not the last entry.
            self._processing_first_entry = True
            self._move(State.PROCESSING)
        return entry

    def _enter(self, message_type: MessageType, name: str) -> None:
        self._command_index += 1
        self._entry_type = message_type
        self._entry_name = name

    def _current_ref(self) -> CommandRef:
        return CommandRef(max(self._command_index, 0), self._entry_type, self._entry_name)

    def _type_mismatch(self, actual: MessageType, expected: MessageType) -> MachineError:
        return replay.type_mismatch(actual, expected, self._current_ref())

    def _mismatch(self, message_type: MessageType, difference: str) -> MachineError:
        return replay.field_mismatch(message_type, difference, self._current_ref())

    def _check_idempotency_key(self, idempotency_key: str | None) -> None:
        if idempotency_key is not None and not idempotency_key:
            self._fail(
                MachineError(
                    INTERNAL,
                    "Trying to execute an idempotent request with an empty idempotency key. "
                    "The idempotency key must be non-empty.",
                )
            )

    def _new_completion_id(self) -> int:
        cid = self._next_completion_id
        self._next_completion_id += 1
        return cid

    def _expect_start(self) -> pb.StartMessage:
        assert self._start is not None, "no StartMessage yet"
        return self._start

    def _expect_processing(self, what: str) -> None:
        if self._state is not State.PROCESSING:
            self._fail_unexpected_named(what)

    def _fail_unexpected(self, message_type: MessageType) -> None:
        self._fail_unexpected_named(replay.type_label(message_type))

    def _fail_unexpected_named(self, what: str) -> None:
        if self._state is State.CLOSED:
            raise self._error or MachineError(CLOSED, f"'{what}' after the attempt was closed")
        self._fail(MachineError(PROTOCOL_VIOLATION, f"'{what}' in state {self._state.value}"))

    def _failure(self, failure: Failure) -> pb.Failure:
        message = pb.Failure(code=failure.code, message=failure.message)
        if self.protocol_version >= 6:  # metadata exists since V6; dropped on V5
            message.metadata.extend(pb.FailureMetadata(key=k, value=v) for k, v in failure.metadata)
        return message

    def _send(self, message: Message) -> None:
        if not self._output_closed:
            self._output.append(encode_message(message))

    def _close(self) -> None:
        self._output_closed = True
        self._move(State.CLOSED)

    def _move(self, to: State) -> None:
        assert to in _TRANSITIONS[self._state], f"illegal transition {self._state} -> {to}"
        self._state = to

    def _fail(self, error: MachineError) -> None:
        """Record `error`, write it as ErrorMessage (unless closed), and raise it."""
        self._fail_quietly(error)
        raise error

    def _fail_quietly(self, error: MachineError) -> None:
        if self._state is State.CLOSED:
            return
        self._error = error
        self._send(error_message(error))
        self._close()
