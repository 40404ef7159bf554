"""What protocol V7 changes in the engine (protocol reference §10; tools §1c).

- A Suspension carries a `Future` tree (`awaiting_on`) instead of flat lists. The engine
  flattens it: the invocation resumes when any leaf's notification is stored, as in V6,
  and the SDK suspends again if its tree cannot resolve yet (what the official cores do
  when they transcode a tree for a V6 server).
- A ProposeRunCompletion with the REQUESTED_ACK flag is journaled as a RunCompletion like
  any other, but the running attempt is told with the compact ProposeRunCompletionAck
  (the SDK kept the value it proposed); a later replay carries the RunCompletion itself.
- ErrorMessage.behavior PAUSE pauses the invocation, FAIL completes it with the error,
  RETRY (and V5/V6) follow the retry policy.
- AwaitingOnMessage is a hint: accepted and not stored.
- StartMessage carries `idempotency_key`, `scope` and `limit_key`; Call and OneWayCall carry
  `scope` and `limit_key`, which the child keeps as the headers `x-perdure-scope` and
  `x-perdure-limit-key` (flow-control rules match on them, `flow_gate`).

Named signals resume through the invocation's `waiting_named_signals`, as in V6 (`signals`).
"""

from __future__ import annotations

from collections.abc import Sequence

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.server.engine.flow_gate import LIMIT_KEY_HEADER, SCOPE_HEADER
from perdure.store.api import InvocationRow, JournalEntryRow

ACK_TYPE = MessageType.PROPOSE_RUN_COMPLETION_ACK


def waits(
    message: pb.SuspensionMessage,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """(completion ids, signal ids, signal names) a suspension waits on, any tree flattened."""
    completions = list(message.waiting_completions)
    signals = list(message.waiting_signals)
    names = list(message.waiting_named_signals)
    if message.HasField("awaiting_on"):
        stack = [message.awaiting_on]
        while stack:
            future = stack.pop()
            completions.extend(future.waiting_completions)
            signals.extend(future.waiting_signals)
            names.extend(future.waiting_named_signals)
            stack.extend(future.nested_futures)
    return (
        tuple(dict.fromkeys(completions)),
        tuple(dict.fromkeys(signals)),
        tuple(dict.fromkeys(names)),
    )


def ack_payload(completion_id: int) -> bytes:
    return pb.ProposeRunCompletionAckMessage(completion_id=completion_id).SerializeToString()


def start_fields(
    start: pb.StartMessage, row: InvocationRow, journal: Sequence[JournalEntryRow]
) -> None:
    """Fill the V7 StartMessage fields of `row` (its Input entry is `journal[0]`)."""
    if row.idempotency_key is not None:
        start.idempotency_key = row.idempotency_key
    if not journal:
        return
    entry = pb.InputCommandMessage()
    entry.ParseFromString(journal[0].payload)
    for header in entry.headers:
        if header.key.lower() == SCOPE_HEADER:
            start.scope = header.value
        elif header.key.lower() == LIMIT_KEY_HEADER:
            start.limit_key = header.value


def call_headers(
    message: pb.CallCommandMessage | pb.OneWayCallCommandMessage,
) -> tuple[tuple[str, str], ...]:
    """The child's headers for a V7 call's scope and limit key."""
    out = []
    if message.HasField("scope"):
        out.append((SCOPE_HEADER, message.scope))
    if message.HasField("limit_key"):
        out.append((LIMIT_KEY_HEADER, message.limit_key))
    return tuple(out)
