"""Protocol V7 in the engine (real SQLite store, manual clock): negotiation, the Start
fields, future-tree suspensions, the run-completion ack, error behaviours, the awaiting-on
hint, named signals, and scope and limit key carried on calls. V6 stays as it was."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import REQUESTED_ACK, Frame, FrameDecoder
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.clock import ManualClock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    Applied,
    Command,
    Engine,
    Invoke,
    NotificationCommitted,
    SdkFrames,
    StartAttempt,
)
from perdure.store.api import DeploymentRow, InvocationRow, ServiceRow, Store, WriteTxn
from perdure.store.sqlite import SqliteStore

SERVICE = {"name": "Svc", "ty": "SERVICE", "handlers": [{"name": "h"}, {"name": "leaf"}]}
R = TypeVar("R")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore.open(tmp_path / "data")

    def schema(txn: WriteTxn) -> None:
        # Advertises 5..7, as restate-sdk 1.2.0 and @restatedev/restate-sdk 1.17 do.
        txn.put_deployment(
            DeploymentRow("dp_1", "http://x", True, "BIDI_STREAM", 5, 7, {}, None, 0, "{}")
        )
        txn.put_service(ServiceRow("Svc", "dp_1", 1, "SERVICE", True, json.dumps(SERVICE)))

    await opened.write(schema)
    try:
        yield opened
    finally:
        await opened.close()


class Engine7:
    def __init__(self, store: Store, *, v7: bool = True) -> None:
        self.store = store
        self.engine = Engine(ServerConfig(protocol_v7=v7), ManualClock())

    async def apply(self, command: Command[R]) -> Applied[R]:
        return await self.store.write(lambda txn: self.engine.apply(txn, command))

    async def invoke(
        self, handler: str = "h", idempotency_key: str | None = None
    ) -> tuple[str, StartAttempt]:
        invocation_id = str(InvocationId.generate())
        out = await self.apply(
            Invoke(invocation_id, "Svc", handler, None, (), b"1", idempotency_key)
        )
        return invocation_id, next(e for e in out.effects if isinstance(e, StartAttempt))

    async def send(
        self, invocation_id: str, attempt: int, *frames: tuple[int, bytes, int]
    ) -> Applied[None]:
        batch = tuple(Frame(t, flags, p) for t, p, flags in frames)
        return await self.apply(SdkFrames(invocation_id, attempt, batch))

    async def row(self, invocation_id: str) -> InvocationRow:
        row = await self.store.read(lambda txn: txn.get_invocation(invocation_id))
        assert row is not None
        return row


def msg(message_type: int, message: Any, flags: int = 0) -> tuple[int, bytes, int]:
    return message_type, message.SerializeToString(), flags


def start_of(plan: StartAttempt) -> pb.StartMessage:
    first = FrameDecoder().feed(plan.plan.body)[0]
    start = pb.StartMessage()
    start.ParseFromString(first.payload)
    return start


RUN = msg(MessageType.RUN, pb.RunCommandMessage(result_completion_id=1, name="r"))


async def test_a_deployment_offering_v7_is_driven_in_v7_unless_switched_off(store: Store) -> None:
    on = Engine7(store)
    inv, started = await on.invoke(idempotency_key="once")
    assert started.plan.protocol_version == 7
    assert (await on.row(inv)).protocol_version == 7
    assert start_of(started).idempotency_key == "once"  # a V7 Start field
    off = Engine7(store, v7=False)
    _, started6 = await off.invoke(idempotency_key="twice")
    assert started6.plan.protocol_version == 6
    assert not start_of(started6).HasField("idempotency_key")


async def test_a_future_tree_suspension_resumes_on_any_leaf(store: Store) -> None:
    e = Engine7(store)
    inv, _ = await e.invoke()
    tree = pb.Future(
        combinator_type=pb.ALL_COMPLETED,
        waiting_completions=[1],
        nested_futures=[pb.Future(waiting_completions=[2], waiting_signals=[17])],
    )
    await e.send(inv, 1, RUN, msg(MessageType.SUSPENSION, pb.SuspensionMessage(awaiting_on=tree)))
    row = await e.row(inv)
    assert row.status == "suspended"
    assert row.waiting_completions == (1, 2) and row.waiting_signals == (17,)


async def test_a_proposed_run_completion_with_the_ack_flag_is_acked(store: Store) -> None:
    e = Engine7(store)
    inv, _ = await e.invoke()
    propose = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"42")
    out = await e.send(inv, 1, RUN, msg(MessageType.PROPOSE_RUN_COMPLETION, propose, REQUESTED_ACK))
    [forwarded] = [x for x in out.effects if isinstance(x, NotificationCommitted)]
    assert forwarded.entry_type == MessageType.PROPOSE_RUN_COMPLETION_ACK
    ack = pb.ProposeRunCompletionAckMessage()
    ack.ParseFromString(forwarded.payload)
    assert ack.completion_id == 1
    # The journal holds the completion itself, for the replay of a later attempt.
    journal = await store.read(lambda txn: txn.read_journal(inv))
    assert [x.type for x in journal][-1] == MessageType.RUN_COMPLETION
    note = pb.NotificationTemplate()
    note.ParseFromString(journal[-1].payload)
    assert note.completion_id == 1 and note.value.content == b"42"


async def test_without_v7_the_ack_flag_gets_the_completion_back(store: Store) -> None:
    e = Engine7(store, v7=False)
    inv, _ = await e.invoke()
    propose = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"42")
    out = await e.send(inv, 1, RUN, msg(MessageType.PROPOSE_RUN_COMPLETION, propose, REQUESTED_ACK))
    [forwarded] = [x for x in out.effects if isinstance(x, NotificationCommitted)]
    assert forwarded.entry_type == MessageType.RUN_COMPLETION


@pytest.mark.parametrize(
    ("behavior", "v7", "status"),
    [
        (pb.PAUSE, True, "paused"),
        (pb.FAIL, True, "completed"),
        (pb.RETRY, True, "backing-off"),
        (pb.PAUSE, False, "backing-off"),  # V6 has no behaviour: the retry policy decides
    ],
)
async def test_error_behaviour(store: Store, behavior: int, v7: bool, status: str) -> None:
    e = Engine7(store, v7=v7)
    inv, _ = await e.invoke()
    error = pb.ErrorMessage(code=570, message="journal mismatch", behavior=behavior)  # type: ignore[arg-type]
    await e.send(inv, 1, msg(MessageType.ERROR, error))
    row = await e.row(inv)
    assert row.status == status
    if status == "completed":
        result = pb.OutputCommandMessage()
        result.ParseFromString(row.result or b"")
        assert result.failure.code == 570 and result.failure.message == "journal mismatch"


async def test_the_awaiting_on_hint_is_accepted_and_not_stored(store: Store) -> None:
    e = Engine7(store)
    inv, _ = await e.invoke()
    hint = pb.AwaitingOnMessage(awaiting_on=pb.Future(waiting_completions=[1]))
    await e.send(inv, 1, RUN, msg(MessageType.AWAITING_ON, hint))
    row = await e.row(inv)
    assert row.status == "running" and row.journal_length == 2  # Input, Run


async def test_a_named_signal_wakes_its_waiter(store: Store) -> None:
    e = Engine7(store)
    waiter, _ = await e.invoke()
    suspension = pb.SuspensionMessage(awaiting_on=pb.Future(waiting_named_signals=["go"]))
    await e.send(waiter, 1, msg(MessageType.SUSPENSION, suspension))
    assert (await e.row(waiter)).status == "suspended"
    sender, _ = await e.invoke()
    signal = pb.SendSignalCommandMessage(
        target_invocation_id=waiter, name="go", value=pb.Value(content=b'"yes"')
    )
    out = await e.send(sender, 1, msg(MessageType.SEND_SIGNAL, signal))
    assert (await e.row(waiter)).status == "running"
    assert any(isinstance(x, StartAttempt) and x.plan.invocation_id == waiter for x in out.effects)


async def test_a_named_signal_stored_before_the_suspension_resumes_at_once(store: Store) -> None:
    e = Engine7(store)
    waiter, _ = await e.invoke()
    sender, _ = await e.invoke()
    signal = pb.SendSignalCommandMessage(target_invocation_id=waiter, name="go")
    signal.void.SetInParent()
    await e.send(sender, 1, msg(MessageType.SEND_SIGNAL, signal))
    suspension = pb.SuspensionMessage(awaiting_on=pb.Future(waiting_named_signals=["go"]))
    await e.send(waiter, 1, msg(MessageType.SUSPENSION, suspension))
    row = await e.row(waiter)
    assert row.status == "running" and row.attempt == 2


async def test_scope_and_limit_key_travel_with_a_call(store: Store) -> None:
    e = Engine7(store)
    caller, _ = await e.invoke()
    call = pb.CallCommandMessage(
        service_name="Svc",
        handler_name="leaf",
        parameter=b"2",
        scope="tenant-a",
        limit_key="k1",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    out = await e.send(caller, 1, msg(MessageType.CALL, call))
    child = next(x for x in out.effects if isinstance(x, StartAttempt))
    start = start_of(child)
    assert (start.scope, start.limit_key) == ("tenant-a", "k1")


async def test_a_deployment_of_at_most_v6_stays_on_its_version(store: Store) -> None:
    def v6_only(txn: WriteTxn) -> None:
        txn.put_deployment(
            DeploymentRow("dp_1", "http://x", True, "BIDI_STREAM", 5, 6, {}, None, 0, "{}")
        )

    await store.write(v6_only)
    e = Engine7(store)
    _, started = await e.invoke(idempotency_key="k")
    assert started.plan.protocol_version == 6
    assert not start_of(started).HasField("idempotency_key")
