"""Regression tests for three engine defects: a suspension on a named signal never resumed
(B3), a second completion of an awakeable was appended (B4), a run completion for a
completion id that is not a Run was accepted (B8)."""

from __future__ import annotations

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import PROTOCOL_VIOLATION
from perdure.protocol.ids import AwakeableId, InvocationId
from perdure.protocol.messages import MessageType
from perdure.store.api import Store
from tests.unit.server.test_engine_features import END, H, output, store

__all__ = ["store"]  # the fixture, shared with test_engine_features


def _send_signal(target: str, name: str, value: bytes) -> tuple[int, pb.SendSignalCommandMessage]:
    message = pb.SendSignalCommandMessage(target_invocation_id=target, name=name)
    message.value.content = value
    return MessageType.SEND_SIGNAL, message


async def _suspend_on_name(h: H, inv: str, name: str) -> None:
    # What the official SDK sends in V6 for `await ctx.signal(name)`: the cancel signal too.
    suspension = pb.SuspensionMessage(waiting_signals=[1], waiting_named_signals=[name])
    await h.frames(inv, (MessageType.SUSPENSION, suspension))


async def test_a_named_signal_resumes_the_suspension_waiting_on_it(store: Store) -> None:
    h = H(store)
    waiting = await h.invoke("Counter", "add", "w")
    await _suspend_on_name(h, waiting, "go")
    row = await h.row(waiting)
    assert (row.status, row.waiting_named_signals) == ("suspended", ("go",))
    sender = await h.invoke("Counter", "add", "s")
    await h.frames(sender, _send_signal(waiting, "other", b"1"))
    assert (await h.row(waiting)).status == "suspended"  # another name: still waiting
    await h.frames(sender, _send_signal(waiting, "go", b"2"))
    row = await h.row(waiting)
    assert (row.status, row.attempt) == ("running", 2)
    kind, note = (await h.journal(waiting))[-1]
    assert kind == MessageType.SIGNAL and note is not None
    assert (note.signal_name, note.value.content) == ("go", b"2")


async def test_a_named_signal_stored_before_the_suspension_resumes_it_at_once(
    store: Store,
) -> None:
    h = H(store)
    waiting = await h.invoke("Counter", "add", "w")
    sender = await h.invoke("Counter", "add", "s")
    # The signal lands while the attempt still runs (after its replay started).
    await h.frames(sender, _send_signal(waiting, "go", b"early"))
    await _suspend_on_name(h, waiting, "go")
    row = await h.row(waiting)
    assert (row.status, row.attempt) == ("running", 2)


async def test_an_awakeable_completed_twice_keeps_the_first_completion(store: Store) -> None:
    h = H(store)
    waiting = await h.invoke("Counter", "add", "w")
    awakeable = str(AwakeableId(InvocationId.parse(waiting), 17))
    resolver = await h.invoke("Counter", "add", "r")
    for value in (b'"first"', b'"second"'):
        message = pb.CompleteAwakeableCommandMessage(awakeable_id=awakeable)
        message.value.content = value
        await h.frames(resolver, (MessageType.COMPLETE_AWAKEABLE, message))
    signals = [n for kind, n in await h.journal(waiting) if kind == MessageType.SIGNAL]
    assert [(n.signal_id, n.value.content) for n in signals if n is not None] == [(17, b'"first"')]
    # The resolver's own journal has both commands: each was accepted.
    commands = [k for k, _ in await h.journal(resolver) if k == MessageType.COMPLETE_AWAKEABLE]
    assert len(commands) == 2


async def test_a_run_completion_for_a_completion_id_that_is_no_run_is_refused(
    store: Store,
) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    sleep = pb.SleepCommandMessage(wake_up_time=10**15, result_completion_id=1)
    proposal = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"x")
    await h.frames(inv, (MessageType.SLEEP, sleep), (MessageType.PROPOSE_RUN_COMPLETION, proposal))
    row = await h.row(inv)
    assert (row.status, row.last_failure_code) == ("backing-off", PROTOCOL_VIOLATION)
    assert "not the completion id of a Run" in (row.last_failure or "")
    kinds = [kind for kind, _ in await h.journal(inv)]
    assert MessageType.RUN_COMPLETION not in kinds


async def test_a_run_completion_for_an_unknown_completion_id_is_refused(store: Store) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    proposal = pb.ProposeRunCompletionMessage(result_completion_id=7, value=b"x")
    await h.frames(inv, (MessageType.PROPOSE_RUN_COMPLETION, proposal))
    assert (await h.row(inv)).last_failure_code == PROTOCOL_VIOLATION


async def test_a_run_completion_for_its_run_is_appended(store: Store) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    run = pb.RunCommandMessage(result_completion_id=1, name="step")
    proposal = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"42")
    await h.frames(inv, (MessageType.RUN, run), (MessageType.PROPOSE_RUN_COMPLETION, proposal))
    kind, note = (await h.journal(inv))[-1]
    assert kind == MessageType.RUN_COMPLETION and note is not None
    assert (note.completion_id, note.value.content) == (1, b"42")
    await h.frames(inv, output(), END)
    assert (await h.row(inv)).status == "completed"
