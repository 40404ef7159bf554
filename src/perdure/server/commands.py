"""What goes into the partition processor (commands) and what comes out (replies, effects).

Effects are things to do *after* the transaction that produced them committed: start an
attempt, arm a timer, answer an ingress caller. Producing them inside the transaction and
running them after the commit is how the durability rule is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perdure.protocol.framing import Frame

# ---- commands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invoke:
    """A new invocation from the ingress. The id is chosen by the caller (deterministic
    when there is an idempotency key, so a duplicate finds the first one)."""

    invocation_id: str
    service: str
    handler: str
    key: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    idempotency_key: str | None = None
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SdkFrames:
    """Frames a deployment sent during attempt `attempt`, in arrival order.

    `known_entries` is the journal length the attempt was started with (its replay): a
    Suspension resumes at once only for a notification stored at or after that index.
    """

    invocation_id: str
    attempt: int
    frames: tuple[Frame, ...]
    known_entries: int = 0


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """The attempt failed outside the protocol (connection, HTTP status, timeout)."""

    invocation_id: str
    attempt: int
    code: int
    message: str
    retry_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FireTimer:
    timer_id: int


@dataclass(frozen=True, slots=True)
class Recover:
    """At startup: give every invocation that was running when we stopped a new attempt."""


@dataclass(frozen=True, slots=True)
class CompleteSignal:
    """Deliver unnamed signal `signal_index` to an invocation (an awakeable completed from
    the ingress). Exactly one of `value` / `failure` (code, message) is set."""

    invocation_id: str
    signal_index: int
    value: bytes | None = None
    failure: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class InvocationControl:
    """An operator action from the admin API: cancel, kill, purge, pause or resume.
    `deployment` (resume only): "keep", "latest" or a deployment id."""

    operation: str
    invocation_id: str
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class Cleanup:
    """Purge completed invocations (and journals) whose retention ended."""


Command = (
    Invoke
    | SdkFrames
    | AttemptFailed
    | FireTimer
    | Recover
    | CompleteSignal
    | InvocationControl
    | Cleanup
)


# ---- replies and effects ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvokeReply:
    invocation_id: str
    created: bool  # False: the id existed (idempotency key or workflow run)
    status: str
    result: bytes | None  # serialized OutputCommandMessage if already completed


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
    protocol_mode: str = "REQUEST_RESPONSE"  # or "BIDI_STREAM"
    inactivity_timeout_ms: int = 60_000
    abort_timeout_ms: int = 600_000


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
    result: bytes


@dataclass(frozen=True, slots=True)
class AbortAttempt:
    """Stop attempt `attempt` of an invocation now (killed or paused): its frames would
    be dropped anyway (attempt fencing), this just frees the connection early."""

    invocation_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ControlReply:
    """What an `InvocationControl` did, as the admin API's HTTP status and message."""

    status: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class NotificationCommitted:
    """A notification entry committed to the journal of an invocation whose attempt
    `attempt` is running: a bidi attempt streams it to the deployment. Emitted only after
    the commit, like every effect, so nothing uncommitted reaches a handler."""

    invocation_id: str
    attempt: int
    index: int
    entry_type: int
    payload: bytes


Effect = StartAttempt | ArmTimer | InvocationEnded | AbortAttempt | NotificationCommitted


@dataclass(slots=True)
class Outcome:
    reply: object = None
    effects: list[Effect] = field(default_factory=list)
