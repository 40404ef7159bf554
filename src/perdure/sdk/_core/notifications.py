"""The notification side of the journal machine: handles, results, and what an await waits on.

The server answers commands with *notifications* identified by a completion id (allocated by
the SDK when it wrote the command) or by a signal (index or name). User code never sees those
ids: every awaitable gets an opaque *handle* (an int). `Notifications` maps handles to ids,
buffers notifications as they arrive, and decides whether an await tree can resolve.

Notifications are moved from the arrival queue to the *ready* set one at a time, and only while
an await cannot resolve with what is already ready. This keeps first-completed awaits
deterministic: on replay the same notification wins as in the original execution, because the
server replays notifications in the order it stored them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import CANCEL_SIGNAL_INDEX
from perdure.protocol.messages import MessageType
from perdure.sdk._core.progress import INTERNAL, MachineError

CANCEL_HANDLE = 1
"""Handle of the built-in CANCEL signal (signal index 1); handles 2..16 are reserved."""

_FIRST_HANDLE = 17


# -- Notification ids -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompletionId:
    value: int


@dataclass(frozen=True, slots=True)
class SignalIndex:
    value: int


@dataclass(frozen=True, slots=True)
class SignalName:
    value: str


NotificationId = CompletionId | SignalIndex | SignalName


# -- Notification results -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Void:
    """Success without a value (a sleep that fired, a state key that is not set...)."""


VOID = Void()


@dataclass(frozen=True, slots=True)
class Failure:
    """A terminal failure, as carried by the protocol's `Failure` message."""

    code: int
    message: str
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StateKeys:
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallInvocationId:
    """The id of an invocation created by a call or a send."""

    invocation_id: str


NotificationValue = Void | bytes | Failure | StateKeys | CallInvocationId
"""What `take_notification` gives back; `bytes` is a success value."""


# -- Await trees ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Resolves as soon as one child resolves (success or failure)."""

    children: tuple[Awaiting, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """Resolves once every child resolved (success or failure)."""

    children: tuple[Awaiting, ...]


Awaiting = int | AnyOf | AllOf
"""A handle, or a combination of handles: what one await point waits on."""


def handles_of(awaiting: Awaiting) -> list[int]:
    """Every handle in `awaiting`, depth first."""
    if isinstance(awaiting, int):
        return [awaiting]
    out: list[int] = []
    for child in awaiting.children:
        out.extend(handles_of(child))
    return out


@dataclass(slots=True)
class WaitingOn:
    """The flattened V6 suspension lists of an await tree."""

    completions: list[int] = field(default_factory=list)
    signals: list[int] = field(default_factory=list)
    named_signals: list[str] = field(default_factory=list)


# -- The store ------------------------------------------------------------------------------


class Notifications:
    """Handle mapping, arrival queue and ready set of one attempt."""

    def __init__(self) -> None:
        self._arrived: deque[tuple[NotificationId, NotificationValue]] = deque()
        self._ready: dict[NotificationId, NotificationValue] = {}
        self._ids: dict[int, NotificationId] = {CANCEL_HANDLE: SignalIndex(CANCEL_SIGNAL_INDEX)}
        self._next_handle = _FIRST_HANDLE

    def enqueue(self, nid: NotificationId, value: NotificationValue) -> None:
        """A notification arrived from the server (replayed or live)."""
        self._arrived.append((nid, value))

    def insert_ready(self, nid: NotificationId, value: NotificationValue) -> None:
        """A result known locally (eager state), ready at once."""
        self._ready[nid] = value

    def new_handle(self, nid: NotificationId) -> int:
        handle = self._next_handle
        self._next_handle += 1
        self._ids[handle] = nid
        return handle

    def id_of(self, handle: int) -> NotificationId:
        return self._ids[handle]

    def is_known(self, nid: NotificationId) -> bool:
        """True if `nid` is ready or still queued (used to skip replayed runs)."""
        return nid in self._ready or any(queued == nid for queued, _ in self._arrived)

    def is_completed(self, handle: int) -> bool:
        """True if the handle's result is ready to take (False once taken)."""
        nid = self._ids.get(handle)
        return nid is not None and nid in self._ready

    def take(self, handle: int) -> NotificationValue | None:
        """Remove and return the handle's result; None if it is not ready.

        The CANCEL handle stays mapped after a take, so later awaits still wake up on a
        (second) cancel signal, as the official core does.
        """
        nid = self._ids.get(handle)
        if nid is None or nid not in self._ready:
            return None
        value = self._ready.pop(nid)
        if handle != CANCEL_HANDLE:
            del self._ids[handle]
        return value

    def peek(self, handle: int) -> NotificationValue | None:
        nid = self._ids.get(handle)
        return None if nid is None else self._ready.get(nid)

    def try_resolve(self, awaiting: Awaiting) -> Awaiting | None:
        """None if `awaiting` can resolve now; otherwise the part still pending.

        Moves arrived notifications to the ready set one at a time until the tree resolves
        or the queue is empty.
        """
        pending: _Node = _Node.of(awaiting)
        while True:
            if self._reduce(pending):
                return None
            if not self._arrived:
                return pending.freeze()
            nid, value = self._arrived.popleft()
            self._ready[nid] = value

    def waiting_on(self, awaiting: Awaiting) -> WaitingOn:
        """Flatten an await tree into the V6 suspension lists (own leaves, then nested)."""
        out = WaitingOn()
        self._flatten(awaiting, out)
        return out

    def _flatten(self, awaiting: Awaiting, out: WaitingOn) -> None:
        if isinstance(awaiting, int):
            self._push(awaiting, out)
            return
        for child in awaiting.children:
            if isinstance(child, int):
                self._push(child, out)
        for child in awaiting.children:
            if not isinstance(child, int):
                self._flatten(child, out)

    def _push(self, handle: int, out: WaitingOn) -> None:
        nid = self._ids.get(handle)
        if isinstance(nid, CompletionId):
            out.completions.append(nid.value)
        elif isinstance(nid, SignalIndex):
            out.signals.append(nid.value)
        elif isinstance(nid, SignalName):
            out.named_signals.append(nid.value)

    def _leaf_done(self, handle: int) -> bool:
        nid = self._ids.get(handle)
        return nid is not None and nid in self._ready

    def _reduce(self, node: _Node) -> bool:
        """True when `node` resolved; prunes resolved children of all-of nodes in place."""
        if node.handle is not None:
            return self._leaf_done(node.handle)
        if node.any_of:
            return any(self._reduce(child) for child in node.children)
        # Same pruning order as the core (swap-remove), so suspension lists match it.
        i = 0
        while i < len(node.children):
            if self._reduce(node.children[i]):
                node.children[i] = node.children[-1]
                node.children.pop()
            else:
                i += 1
        return not node.children


@dataclass(slots=True)
class _Node:
    """Mutable copy of an await tree, pruned while it resolves."""

    handle: int | None
    any_of: bool
    children: list[_Node]

    @classmethod
    def of(cls, awaiting: Awaiting) -> _Node:
        if isinstance(awaiting, int):
            return cls(awaiting, False, [])
        return cls(None, isinstance(awaiting, AnyOf), [cls.of(c) for c in awaiting.children])

    def freeze(self) -> Awaiting:
        if self.handle is not None:
            return self.handle
        children = tuple(c.freeze() for c in self.children)
        return AnyOf(children) if self.any_of else AllOf(children)


def decode_notification(
    message_type: MessageType, message: pb.NotificationTemplate
) -> tuple[NotificationId, NotificationValue]:
    """A notification frame as (id, value); both parts are mandatory."""
    which_id = message.WhichOneof("id")
    which_result = message.WhichOneof("result")
    if which_id is None or which_result is None:
        missing = "id" if which_id is None else "result"
        raise MachineError(
            INTERNAL, f"expected message type {message_type.name} to have field {missing}"
        )
    nid: NotificationId
    if which_id == "completion_id":
        nid = CompletionId(message.completion_id)
    elif which_id == "signal_id":
        nid = SignalIndex(message.signal_id)
    else:
        nid = SignalName(message.signal_name)
    value: NotificationValue
    if which_result == "void":
        value = VOID
    elif which_result == "value":
        value = message.value.content
    elif which_result == "failure":
        metadata = tuple((m.key, m.value) for m in message.failure.metadata)
        value = Failure(message.failure.code, message.failure.message, metadata)
    elif which_result == "invocation_id":
        value = CallInvocationId(message.invocation_id)
    else:
        value = StateKeys(tuple(k.decode(errors="replace") for k in message.state_keys.keys))
    return nid, value
