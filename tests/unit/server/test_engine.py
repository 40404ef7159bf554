"""The engine on a real SQLite store, driven by commands, on a manual clock (no HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import Frame, decode_header
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.clock import ManualClock
from perdure.server.config import RetryPolicy, ServerConfig
from perdure.server.engine import (
    Applied,
    ArmTimer,
    AttemptFailed,
    Command,
    Engine,
    FireTimer,
    InvocationControl,
    Invoke,
    SdkFrames,
    StartAttempt,
)
from perdure.store.api import DeploymentRow, InvocationRow, ServiceRow, Store, WriteTxn
from perdure.store.sqlite import SqliteStore

MANIFEST = {
    "name": "Counter",
    "ty": "VIRTUAL_OBJECT",
    "handlers": [{"name": "add", "ty": "EXCLUSIVE"}, {"name": "get", "ty": "SHARED"}],
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore.open(tmp_path / "data")

    def schema(txn: WriteTxn) -> None:
        txn.put_deployment(
            DeploymentRow("dp_1", "http://x", True, "REQUEST_RESPONSE", 5, 7, {}, None, 0, "{}")
        )
        txn.put_service(
            ServiceRow("Counter", "dp_1", 1, "VIRTUAL_OBJECT", True, json.dumps(MANIFEST))
        )

    await opened.write(schema)
    try:
        yield opened
    finally:
        await opened.close()


R = TypeVar("R")


class Harness:
    def __init__(self, store: Store, max_attempts: int = 3) -> None:
        self.store = store
        self.clock = ManualClock()
        policy = RetryPolicy(max_attempts=max_attempts)
        self.engine = Engine(ServerConfig(retry_policy=policy), self.clock)

    async def apply(self, command: Command[R]) -> Applied[R]:
        return await self.store.write(lambda txn: self.engine.apply(txn, command))

    async def invoke(self, key: str = "k", handler: str = "add") -> tuple[str, Applied[Any]]:
        invocation_id = str(InvocationId.generate())
        cmd = Invoke(invocation_id, "Counter", handler, key, (), b"1")
        return invocation_id, await self.apply(cmd)

    async def frames(
        self, invocation_id: str, attempt: int, *messages: tuple[int, bytes]
    ) -> Applied[None]:
        cmd = SdkFrames(invocation_id, attempt, tuple(Frame(t, 0, p) for t, p in messages))
        return await self.apply(cmd)

    async def row(self, invocation_id: str) -> InvocationRow:
        row = await self.store.read(lambda txn: txn.get_invocation(invocation_id))
        assert row is not None
        return row


def output(value: bytes) -> tuple[int, bytes]:
    return MessageType.OUTPUT, pb.OutputCommandMessage(
        value=pb.Value(content=value)
    ).SerializeToString()


END = (MessageType.END, b"")


async def test_retries_back_off_then_pause(store: Store) -> None:
    h = Harness(store, max_attempts=3)
    inv, outcome = await h.invoke()
    assert [type(e) for e in outcome.effects] == [StartAttempt]
    for attempt, delay in ((1, 500), (2, 1000)):
        failed = AttemptFailed(inv, attempt, 500, "boom")
        out = await h.apply(failed)
        row = await h.row(inv)
        assert row.status == "backing-off"
        timer = next(e for e in out.effects if isinstance(e, ArmTimer))
        assert timer.due_at == h.clock.now_ms() + delay
        h.clock.advance(delay)
        out = await h.apply(FireTimer(timer.timer_id))
        assert (await h.row(inv)).attempt == attempt + 1
    failed = AttemptFailed(inv, 3, 500, "boom")
    await h.apply(failed)
    row = await h.row(inv)
    assert row.status == "paused"
    assert row.retry_count == 3 and row.last_failure == "boom"


async def test_stale_attempt_is_fenced(store: Store) -> None:
    h = Harness(store)
    inv, _ = await h.invoke()
    await h.apply(AttemptFailed(inv, 1, 500, "x"))
    # Attempt 1 already failed: its late frames must not touch the journal.
    await h.frames(inv, 1, output(b"late"), END)
    row = await h.row(inv)
    assert row.status == "backing-off" and row.result is None and row.journal_length == 1


async def test_end_completes_releases_the_lock_and_starts_the_next(store: Store) -> None:
    h = Harness(store)
    first, _ = await h.invoke()
    second, _ = await h.invoke()
    assert (await h.row(second)).status == "pending"
    state = pb.SetStateCommandMessage(key=b"n", value=pb.Value(content=b"1"))
    out = await h.frames(
        first, 1, (MessageType.SET_STATE, state.SerializeToString()), output(b"1"), END
    )
    assert (await h.row(first)).status == "completed"
    assert (await h.row(second)).status == "running"
    assert any(isinstance(e, StartAttempt) and e.plan.invocation_id == second for e in out.effects)
    plan = next(e.plan for e in out.effects if isinstance(e, StartAttempt))
    assert b"n" in plan.body  # the new attempt gets the state eagerly
    assert await store.read(lambda txn: txn.lock_holder("Counter", "k")) == second


async def test_suspension_resumes_at_once_when_the_completion_is_stored(store: Store) -> None:
    h = Harness(store)
    inv, _ = await h.invoke()
    run = pb.RunCommandMessage(result_completion_id=1, name="r")
    propose = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"42")
    suspension = pb.SuspensionMessage(waiting_completions=[1])
    out = await h.frames(
        inv,
        1,
        (MessageType.RUN, run.SerializeToString()),
        (MessageType.PROPOSE_RUN_COMPLETION, propose.SerializeToString()),
        (MessageType.SUSPENSION, suspension.SerializeToString()),
    )
    row = await h.row(inv)
    assert row.status == "running" and row.attempt == 2
    assert any(isinstance(e, StartAttempt) for e in out.effects)
    # A second proposal for the same run is ignored: one recorded result (S4).
    again = pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"43")
    await h.frames(inv, 2, (MessageType.PROPOSE_RUN_COMPLETION, again.SerializeToString()))
    journal = await store.read(lambda txn: txn.read_journal(inv))
    assert [e.type for e in journal] == [
        MessageType.INPUT,
        MessageType.RUN,
        MessageType.RUN_COMPLETION,
    ]


async def test_sleep_suspends_then_the_timer_resumes_once(store: Store) -> None:
    h = Harness(store)
    inv, _ = await h.invoke()
    due = h.clock.now_ms() + 1000
    sleep = pb.SleepCommandMessage(wake_up_time=due, result_completion_id=1)
    suspension = pb.SuspensionMessage(waiting_completions=[1], waiting_signals=[1])
    out = await h.frames(
        inv,
        1,
        (MessageType.SLEEP, sleep.SerializeToString()),
        (MessageType.SUSPENSION, suspension.SerializeToString()),
    )
    assert (await h.row(inv)).status == "suspended"
    timer = next(e for e in out.effects if isinstance(e, ArmTimer))
    assert timer.due_at == due
    fire = FireTimer(timer.timer_id)
    first = await h.apply(fire)
    second = await h.apply(fire)
    assert any(isinstance(e, StartAttempt) for e in first.effects)
    assert second.effects == []  # fired at most once
    assert (await h.row(inv)).waiting_completions == ()


async def test_state_write_from_a_shared_handler_fails_the_attempt(store: Store) -> None:
    h = Harness(store)
    inv, _ = await h.invoke(handler="get")
    state = pb.SetStateCommandMessage(key=b"n", value=pb.Value(content=b"1"))
    await h.frames(inv, 1, (MessageType.SET_STATE, state.SerializeToString()))
    row = await h.row(inv)
    assert row.status == "backing-off" and "cannot write state" in (row.last_failure or "")
    assert row.journal_length == 1  # nothing of the refused command was stored
    assert await store.read(lambda txn: txn.get_state("Counter", "k", b"n")) is None


async def test_duplicate_invocation_id_is_not_created_twice(store: Store) -> None:
    h = Harness(store)
    cmd = Invoke(str(InvocationId.generate()), "Counter", "add", "k", (), b"1", idempotency_key="i")
    first = await h.apply(cmd)
    second = await h.apply(cmd)
    assert first.reply.created and not second.reply.created  # type: ignore[attr-defined]
    assert second.effects == []
    assert (await h.row(cmd.invocation_id)).attempt == 1


# ---- a replayed notification (the cancel signal) cannot wake a suspension ---------------


def snapshot_of(out: Applied[Any]) -> int:
    plan = next(e.plan for e in out.effects if isinstance(e, StartAttempt))
    # The plan's replay length is the one its StartMessage tells the deployment.
    message_type, _, length = decode_header(plan.body[:8])
    assert message_type == MessageType.START
    start = pb.StartMessage()
    start.ParseFromString(plan.body[8 : 8 + length])
    assert plan.known_entries == start.known_entries
    return plan.known_entries


async def sdk(h: Harness, inv: str, known: int, *messages: tuple[int, bytes]) -> Applied[None]:
    row = await h.row(inv)
    cmd = SdkFrames(inv, row.attempt, tuple(Frame(t, 0, p) for t, p in messages), known)
    return await h.apply(cmd)


def sleep(due: int, completion_id: int) -> tuple[int, bytes]:
    message = pb.SleepCommandMessage(wake_up_time=due, result_completion_id=completion_id)
    return MessageType.SLEEP, message.SerializeToString()


def suspension(completion_id: int) -> tuple[int, bytes]:
    # SDKs await AnyOf(x, CANCEL): every suspension also lists signal 1.
    message = pb.SuspensionMessage(waiting_completions=[completion_id], waiting_signals=[1])
    return MessageType.SUSPENSION, message.SerializeToString()


async def test_a_compensating_sleep_after_cancel_suspends_instead_of_busy_looping(
    store: Store,
) -> None:
    h = Harness(store)
    inv, out = await h.invoke()
    await sdk(h, inv, snapshot_of(out), sleep(h.clock.now_ms() + 60_000, 1), suspension(1))
    assert (await h.row(inv)).status == "suspended"

    cmd = InvocationControl("cancel", inv, None)
    out = await h.apply(cmd)
    assert (await h.row(inv)).attempt == 2  # the cancel signal woke it

    # Attempt 2 replays the cancel, catches the 409 and awaits a compensating sleep.
    due = h.clock.now_ms() + 1_000
    out = await sdk(h, inv, snapshot_of(out), sleep(due, 2), suspension(2))
    row = await h.row(inv)
    assert not any(isinstance(e, StartAttempt) for e in out.effects)
    assert (row.status, row.attempt) == ("suspended", 2)

    timer = next(e for e in out.effects if isinstance(e, ArmTimer))
    h.clock.advance(1_000)
    out = await h.apply(FireTimer(timer.timer_id))
    assert (await h.row(inv)).attempt == 3
    await sdk(h, inv, snapshot_of(out), output(b"compensated"), END)
    assert (await h.row(inv)).status == "completed"


async def test_a_notification_stored_after_the_replay_still_resumes_at_once(
    store: Store,
) -> None:
    h = Harness(store)
    inv, out = await h.invoke()
    known = snapshot_of(out)
    cmd = InvocationControl("cancel", inv, None)
    await h.apply(cmd)  # lands mid-attempt
    out = await sdk(h, inv, known, sleep(h.clock.now_ms() + 60_000, 1), suspension(1))
    assert any(isinstance(e, StartAttempt) for e in out.effects)
    assert (await h.row(inv)).attempt == 2
