"""What goes into the engine (commands, each with its reply type) and what comes out
(effects).

A command is applied in one write transaction (`Engine.apply`); its reply reaches the
submitter and its effects run only after that transaction committed: start an attempt, arm
a timer, answer an ingress caller, stream a notification. Producing effects inside the
transaction and running them after the commit is how the durability rule is kept.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from perdure.protocol.framing import Frame
from perdure.store.api import InvocationStatus, ProtocolMode

R = TypeVar("R", covariant=True)


class Command(Generic[R]):
    """A request to the engine whose reply is an `R`."""

    __slots__ = ()


# ---- commands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvokeReply:
    invocation_id: str
    created: bool  # False: the id existed (idempotency key or workflow run)
    status: InvocationStatus
    # What a caller gets without waiting: the stored result of a completed duplicate, or
    # the 409 failure of a second call to a workflow run (it runs once per key). None: wait.
    result: bytes | None
    execution_time: int | None = None  # a delayed send's due time (ms)
    expires_at: int | None = None  # until when a completed result stays retrievable (ms)


@dataclass(frozen=True, slots=True)
class Invoke(Command[InvokeReply]):
    """A new invocation from the ingress. The id is chosen by the caller with
    `perdure.server.engine.ids.choose_invocation_id` (deterministic for workflow runs and
    idempotency keys, so that a duplicate finds the first one)."""

    invocation_id: str
    service: str
    handler: str
    key: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    idempotency_key: str | None = None
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SdkFrames(Command[None]):
    """Frames a deployment sent during attempt `attempt`, in arrival order.

    `known_entries` is the journal length the attempt was started with (its replay): a
    Suspension resumes at once only for a notification stored at or after that index.
    """

    invocation_id: str
    attempt: int
    frames: tuple[Frame, ...]
    known_entries: int = 0
    # Headers every invocation these frames call or send gets, unless the call carries
    # that header itself: the calling attempt's trace context (`traceparent`), added by
    # the server's tracing outside the engine, so a child's span has its caller's attempt
    # as parent (stored with the child's Input, it survives restarts).
    call_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptFailed(Command[None]):
    """The attempt failed outside the protocol (connection, HTTP status, timeout)."""

    invocation_id: str
    attempt: int
    code: int
    message: str
    retry_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FireTimer(Command[None]):
    timer_id: int


@dataclass(frozen=True, slots=True)
class Recover(Command[None]):
    """At startup: give every invocation that was running when we stopped a new attempt."""


@dataclass(frozen=True, slots=True)
class CompleteSignal(Command[None]):
    """Deliver unnamed signal `signal_index` to an invocation (an awakeable completed from
    the ingress). Exactly one of `value` / `failure` (code, message) is set. Raises
    `NotFound` for an unknown invocation."""

    invocation_id: str
    signal_index: int
    value: bytes | None = None
    failure: tuple[int, str] | None = None


ControlOperation = Literal["cancel", "kill", "purge", "pause", "resume"]
CONTROL_OPERATIONS: tuple[ControlOperation, ...] = ("cancel", "kill", "purge", "pause", "resume")


class ControlResult(enum.Enum):
    DONE = "done"  # applied now
    ACCEPTED = "accepted"  # the invocation acts on it when it runs next (cancel)


@dataclass(frozen=True, slots=True)
class InvocationControl(Command[ControlResult]):
    """An operator action: cancel, kill, purge, pause or resume. `deployment` (resume
    only): "keep", "latest" or a deployment id. Refusals raise `EngineError`s."""

    operation: ControlOperation
    invocation_id: str
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class Cleanup(Command[int]):
    """Purge completed invocations (and journals) whose retention ended; replies how many
    were touched."""


class StateChange(enum.Enum):
    APPLIED = "applied"
    QUEUED = "queued"  # behind the key's lock, applied when it is its turn in the inbox


@dataclass(frozen=True, slots=True)
class ReplaceState(Command[StateChange]):
    """Replace the whole state of one object or workflow key (admin). Ordered with the
    key's exclusive invocations: while one holds the key, the change waits in the inbox."""

    service: str
    key: str
    state: tuple[tuple[bytes, bytes], ...]
    # restate's compare-and-set: applied only if the current state has this version
    # (`engine.state_version`); None applies it whatever the state is.
    version: str | None = None


# ---- effects ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    """Everything the invoker needs for one attempt; built inside the transaction."""

    invocation_id: str
    attempt: int
    service: str
    handler: str
    key: str | None
    deployment_id: str
    uri: str
    use_http_11: bool
    additional_headers: dict[str, str]
    protocol_version: int
    body: bytes  # StartMessage + every journal entry, framed
    # Entries in `body` after the StartMessage: the replay this attempt starts from. A
    # suspension may only be woken by entries from this index on (0: by any entry).
    known_entries: int = 0
    # How the invoker drives it (protocol reference §2.4, §6.2); the timeouts are already
    # resolved from handler, service and server defaults.
    protocol_mode: ProtocolMode = "REQUEST_RESPONSE"
    inactivity_timeout_ms: int = 60_000
    abort_timeout_ms: int = 600_000
    created_at: int = 0  # when the invocation was created (ms): its trace span starts then

    @property
    def streaming(self) -> bool:
        """Bidi needs HTTP/2 and a BIDI_STREAM manifest; an inactivity timeout of 0 forces
        request-response, as the real server does (every await then suspends)."""
        return (
            not self.use_http_11
            and self.protocol_mode == "BIDI_STREAM"
            and self.inactivity_timeout_ms > 0
        )


@dataclass(frozen=True, slots=True)
class StartAttempt:
    plan: AttemptPlan


@dataclass(frozen=True, slots=True)
class ArmTimer:
    timer_id: int
    due_at: int


@dataclass(frozen=True, slots=True)
class InvocationEnded:
    invocation_id: str
    result: bytes  # a serialized OutputCommandMessage
    expires_at: int | None = None  # until when the result stays retrievable (ms); None: not


@dataclass(frozen=True, slots=True)
class AbortAttempt:
    """Stop attempt `attempt` of an invocation now (killed or paused): its frames would
    be dropped anyway (attempt fencing), this just frees the connection early."""

    invocation_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class NotificationCommitted:
    """A notification entry committed to the journal of an invocation whose attempt
    `attempt` is running: a streaming attempt forwards it to the deployment. Emitted only
    after the commit, like every effect, so nothing uncommitted reaches a handler."""

    invocation_id: str
    attempt: int
    index: int
    entry_type: int
    payload: bytes


Effect = StartAttempt | ArmTimer | InvocationEnded | AbortAttempt | NotificationCommitted
