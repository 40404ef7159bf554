"""Engine features on a real SQLite store with a manual clock: workflows and promises,
signals and awakeables, attach/get-output, cancel, kill, pause/resume, purge, retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import Frame
from perdure.protocol.ids import AwakeableId, InvocationId
from perdure.protocol.messages import MessageType
from perdure.server.admin.errors import engine_status
from perdure.server.clock import ManualClock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    AbortAttempt,
    Applied,
    AttemptFailed,
    Cleanup,
    Command,
    CompleteSignal,
    ControlResult,
    Engine,
    EngineError,
    InvalidRequest,
    InvocationControl,
    InvocationEnded,
    InvocationStatus,
    Invoke,
    InvokeReply,
    NotFound,
    ReplaceState,
    ResultWaiters,
    SdkFrames,
    StartAttempt,
    StateChange,
    failure_result,
    idempotent_invocation_id,
    workflow_invocation_id,
)
from perdure.server.http import Request, Response
from perdure.server.ingress.invocations import InvocationRoutes
from perdure.server.ingress.paths import IdempotentRoute
from perdure.store.api import DeploymentRow, InvocationRow, ServiceRow, Store, WriteTxn
from perdure.store.sqlite import SqliteStore

SERVICES: list[dict[str, Any]] = [
    {
        "name": "Counter",
        "ty": "VIRTUAL_OBJECT",
        "handlers": [{"name": "add", "ty": "EXCLUSIVE"}, {"name": "get", "ty": "SHARED"}],
    },
    {
        "name": "Wf",
        "ty": "WORKFLOW",
        "workflowCompletionRetention": 10_000,
        "handlers": [{"name": "run", "ty": "WORKFLOW"}, {"name": "signal", "ty": "SHARED"}],
    },
    {
        "name": "Svc",
        "ty": "SERVICE",
        "journalRetention": 0,
        "handlers": [{"name": "go"}],
    },
    {
        "name": "Ik",
        "ty": "SERVICE",
        "idempotencyRetention": 2_000,
        "journalRetention": 500,
        "handlers": [{"name": "go"}],
    },
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore.open(tmp_path / "data")

    def schema(txn: WriteTxn) -> None:
        txn.put_deployment(
            DeploymentRow("dp_1", "http://x", True, "REQUEST_RESPONSE", 5, 7, {}, None, 0, "{}")
        )
        txn.put_deployment(
            DeploymentRow("dp_2", "http://y", True, "REQUEST_RESPONSE", 5, 7, {}, None, 1, "{}")
        )
        for manifest in SERVICES:
            txn.put_service(
                ServiceRow(manifest["name"], "dp_1", 1, manifest["ty"], True, json.dumps(manifest))
            )

    await opened.write(schema)
    try:
        yield opened
    finally:
        await opened.close()


R = TypeVar("R")


@dataclass(frozen=True)
class ControlReply:
    """An operator action's answer as the admin API gives it (status, message)."""

    status: int
    message: str = ""


def enc(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


class H:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = ManualClock()
        self.engine = Engine(ServerConfig(), self.clock)

    async def apply(self, command: Command[R]) -> Applied[R]:
        return await self.store.write(lambda txn: self.engine.apply(txn, command))

    async def invoke(
        self,
        service: str,
        handler: str,
        key: str | None = None,
        *,
        invocation_id: str | None = None,
        idempotency_key: str | None = None,
        delay_ms: int | None = None,
    ) -> str:
        inv = invocation_id or str(InvocationId.generate())
        cmd = Invoke(inv, service, handler, key, (), b"", idempotency_key, delay_ms)
        await self.apply(cmd)
        return inv

    async def frames(self, inv: str, *messages: tuple[int, Any]) -> Applied[None]:
        attempt = (await self.row(inv)).attempt
        frames = tuple(Frame(t, 0, m if isinstance(m, bytes) else enc(m)) for t, m in messages)
        cmd = SdkFrames(inv, attempt, frames)
        return await self.apply(cmd)

    async def control(self, op: str, inv: str, deployment: str | None = None) -> ControlReply:
        cmd = InvocationControl(op, inv, deployment)  # type: ignore[arg-type]
        try:
            result = (await self.apply(cmd)).reply
        except EngineError as exc:
            return ControlReply(engine_status(exc), exc.message)
        return ControlReply(202 if result is ControlResult.ACCEPTED else 200)

    async def row(self, inv: str) -> InvocationRow:
        row = await self.maybe_row(inv)
        assert row is not None
        return row

    async def maybe_row(self, inv: str) -> InvocationRow | None:
        return await self.store.read(lambda txn: txn.get_invocation(inv))

    async def journal(self, inv: str) -> list[tuple[int, pb.NotificationTemplate | None]]:
        rows = await self.store.read(lambda txn: txn.read_journal(inv))
        out: list[tuple[int, pb.NotificationTemplate | None]] = []
        for r in rows:
            n = None
            if MessageType(r.type).is_notification or r.type == MessageType.SIGNAL:
                n = pb.NotificationTemplate()
                n.ParseFromString(r.payload)
            out.append((r.type, n))
        return out

    async def suspend(self, inv: str, completions: list[int], signals_: list[int]) -> None:
        await self.frames(
            inv,
            (
                MessageType.SUSPENSION,
                pb.SuspensionMessage(waiting_completions=completions, waiting_signals=signals_),
            ),
        )


def output(value: bytes = b"v") -> tuple[int, Any]:
    return MessageType.OUTPUT, pb.OutputCommandMessage(value=pb.Value(content=value))


END = (MessageType.END, b"")


def result_of(row: InvocationRow) -> pb.OutputCommandMessage:
    assert row.result is not None
    out = pb.OutputCommandMessage()
    out.ParseFromString(row.result)
    return out


# ---- workflows and promises ------------------------------------------------------------


async def test_promise_get_waits_then_complete_wakes_the_listener(store: Store) -> None:
    h = H(store)
    run_id = workflow_invocation_id("Wf", "k")
    await h.invoke("Wf", "run", "k", invocation_id=run_id)
    # run does not take a lock: a shared handler of the same key starts at once.
    shared = await h.invoke("Wf", "signal", "k")
    assert (await h.row(shared)).status == "running"
    await h.frames(
        run_id,
        (MessageType.GET_PROMISE, pb.GetPromiseCommandMessage(key="p", result_completion_id=1)),
    )
    await h.suspend(run_id, [1], [1])
    assert (await h.row(run_id)).status == "suspended"
    peek = pb.PeekPromiseCommandMessage(key="p", result_completion_id=1)
    await h.frames(shared, (MessageType.PEEK_PROMISE, peek))
    assert (await h.journal(shared))[-1][1].WhichOneof("result") == "void"  # type: ignore[union-attr]
    complete = pb.CompletePromiseCommandMessage(
        key="p", completion_value=pb.Value(content=b"yes"), result_completion_id=2
    )
    out = await h.frames(shared, (MessageType.COMPLETE_PROMISE, complete))
    assert (await h.journal(shared))[-1][1].WhichOneof("result") == "void"  # type: ignore[union-attr]
    # The listener got the value in the same transaction and resumed.
    assert (await h.row(run_id)).status == "running"
    assert any(isinstance(e, StartAttempt) and e.plan.invocation_id == run_id for e in out.effects)
    kind, note = (await h.journal(run_id))[-1]
    assert kind == MessageType.GET_PROMISE_COMPLETION and note is not None
    assert note.value.content == b"yes" and note.completion_id == 1
    # Second completion loses: 409, and the value stays the first one.
    again = pb.CompletePromiseCommandMessage(
        key="p", completion_value=pb.Value(content=b"no"), result_completion_id=3
    )
    await h.frames(shared, (MessageType.COMPLETE_PROMISE, again))
    note = (await h.journal(shared))[-1][1]
    assert note is not None and note.failure.code == 409
    assert note.failure.message == "promise was already completed"
    assert await store.read(lambda txn: txn.get_promise("Wf", "k", "p")) is not None
    # A GetPromise after completion is answered at once.
    await h.frames(
        shared,
        (MessageType.GET_PROMISE, pb.GetPromiseCommandMessage(key="p", result_completion_id=4)),
    )
    note = (await h.journal(shared))[-1][1]
    assert note is not None and note.value.content == b"yes"


async def test_promise_commands_outside_a_workflow_fail_the_attempt(store: Store) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    await h.frames(
        inv, (MessageType.GET_PROMISE, pb.GetPromiseCommandMessage(key="p", result_completion_id=1))
    )
    row = await h.row(inv)
    assert row.status == "backing-off" and row.journal_length == 1


async def test_workflow_run_call_from_a_handler_runs_once(store: Store) -> None:
    h = H(store)
    caller = await h.invoke("Counter", "add", "k")
    call = pb.CallCommandMessage(
        service_name="Wf",
        handler_name="run",
        key="w",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    await h.frames(caller, (MessageType.CALL, call))
    run_id = workflow_invocation_id("Wf", "w")
    assert (await h.row(run_id)).status == "running"
    call2 = pb.CallCommandMessage(
        service_name="Wf",
        handler_name="run",
        key="w",
        invocation_id_notification_idx=3,
        result_completion_id=4,
    )
    await h.frames(caller, (MessageType.CALL, call2))
    journal = await h.journal(caller)
    ids = [
        n.invocation_id for t, n in journal if t == MessageType.CALL_INVOCATION_ID_COMPLETION and n
    ]
    assert ids == [run_id, run_id]
    failure = journal[-1][1]
    assert journal[-1][0] == MessageType.CALL_COMPLETION and failure is not None
    assert (failure.completion_id, failure.failure.code) == (4, 409)
    assert failure.failure.message == "the workflow method was already invoked"


async def test_purging_a_workflow_run_clears_its_state_and_promises(store: Store) -> None:
    h = H(store)
    run_id = workflow_invocation_id("Wf", "k")
    await h.invoke("Wf", "run", "k", invocation_id=run_id)
    state = pb.SetStateCommandMessage(key=b"s", value=pb.Value(content=b"1"))
    complete = pb.CompletePromiseCommandMessage(
        key="p", completion_value=pb.Value(content=b"x"), result_completion_id=1
    )
    assert (await h.control("purge", run_id)).status == 409  # not completed yet
    await h.frames(
        run_id,
        (MessageType.SET_STATE, state),
        (MessageType.COMPLETE_PROMISE, complete),
        output(),
        END,
    )
    row = await h.row(run_id)
    assert row.completion_retention_ms == 10_000  # the workflow's completion retention
    assert (await h.control("purge", run_id)).status == 200
    assert await h.maybe_row(run_id) is None
    assert await store.read(lambda txn: txn.get_state("Wf", "k", b"s")) is None
    assert await store.read(lambda txn: txn.get_promise("Wf", "k", "p")) is None
    assert await store.read(lambda txn: txn.read_journal(run_id)) == []
    # The key is free again: a new run is created.
    await h.invoke("Wf", "run", "k", invocation_id=run_id)
    assert (await h.row(run_id)).status == "running"
    assert (await h.control("purge", str(InvocationId.generate()))).status == 404


# ---- signals, awakeables, attach ---------------------------------------------------------


async def test_awakeable_completion_resumes_a_suspended_invocation(store: Store) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    await h.suspend(inv, [], [17, 1])
    awk = AwakeableId(InvocationId.parse(inv), 17)
    cmd = CompleteSignal(inv, awk.signal_index, value=b'"v"')
    await h.apply(cmd)
    assert (await h.row(inv)).status == "running"
    kind, note = (await h.journal(inv))[-1]
    assert kind == MessageType.SIGNAL and note is not None
    assert (note.signal_id, note.value.content) == (17, b'"v"')
    # Fire and forget, as restate: an unknown invocation is no error, nothing is stored.
    unknown_id = str(InvocationId.generate())
    await h.apply(CompleteSignal(unknown_id, 17, failure=(500, "no")))
    assert await store.read(lambda txn: txn.get_invocation(unknown_id)) is None
    # A second completion of the same awakeable is dropped: the first one wins.
    length = (await h.row(inv)).journal_length
    await h.apply(CompleteSignal(inv, awk.signal_index, value=b'"other"'))
    assert (await h.row(inv)).journal_length == length
    # Once completed, signals are dropped.
    await h.frames(inv, output(), END)
    length = (await h.row(inv)).journal_length
    await h.apply(cmd)
    assert (await h.row(inv)).journal_length == length


async def test_complete_awakeable_and_send_signal_commands_reach_the_target(store: Store) -> None:
    h = H(store)
    target = await h.invoke("Svc", "go")
    await h.suspend(target, [], [17])
    sender = await h.invoke("Svc", "go")
    awk = str(AwakeableId(InvocationId.parse(target), 17))
    message = pb.CompleteAwakeableCommandMessage(
        awakeable_id=awk, failure=pb.Failure(code=500, message="no")
    )
    await h.frames(sender, (MessageType.COMPLETE_AWAKEABLE, message))
    note = (await h.journal(target))[-1][1]
    assert note is not None and (note.signal_id, note.failure.message) == (17, "no")
    assert (await h.row(target)).status == "running"
    # A signal to itself lands in its own journal, after the command.
    own = pb.SendSignalCommandMessage(
        target_invocation_id=sender, idx=18, value=pb.Value(content=b"x")
    )
    await h.frames(sender, (MessageType.SEND_SIGNAL, own))
    journal = await h.journal(sender)
    assert [t for t, _ in journal][-2:] == [MessageType.SEND_SIGNAL, MessageType.SIGNAL]
    assert (await h.row(sender)).journal_length == len(journal)


async def test_attach_waits_for_the_target_and_get_output_peeks(store: Store) -> None:
    h = H(store)
    ik_id = idempotent_invocation_id("Ik", None, "go", "key-1")
    await h.invoke("Ik", "go", invocation_id=ik_id, idempotency_key="key-1")
    caller = await h.invoke("Svc", "go")
    by_target = pb.IdempotentRequestTarget(
        service_name="Ik", handler_name="go", idempotency_key="key-1"
    )
    peek = pb.GetInvocationOutputCommandMessage(
        idempotent_request_target=by_target, result_completion_id=1
    )
    attach = pb.AttachInvocationCommandMessage(invocation_id=ik_id, result_completion_id=2)
    await h.frames(
        caller, (MessageType.GET_INVOCATION_OUTPUT, peek), (MessageType.ATTACH_INVOCATION, attach)
    )
    await h.suspend(caller, [2], [])
    note = (await h.journal(caller))[2][1]
    assert note is not None and note.WhichOneof("result") == "void"
    await h.frames(ik_id, output(b"done"), END)
    assert (await h.row(caller)).status == "running"
    kind, note = (await h.journal(caller))[-1]
    assert kind == MessageType.ATTACH_INVOCATION_COMPLETION and note is not None
    assert (note.completion_id, note.value.content) == (2, b"done")
    unknown = pb.AttachInvocationCommandMessage(
        invocation_id=str(InvocationId.generate()), result_completion_id=3
    )
    await h.frames(caller, (MessageType.ATTACH_INVOCATION, unknown))
    note = (await h.journal(caller))[-1][1]
    assert note is not None and note.failure.code == 404


# ---- cancel, kill, pause, resume -----------------------------------------------------------


async def test_cancel_queued_drops_it_and_cancel_suspended_appends_the_signal(
    store: Store,
) -> None:
    h = H(store)
    first = await h.invoke("Counter", "add", "k")
    queued = await h.invoke("Counter", "add", "k")
    scheduled = await h.invoke("Counter", "add", "z", delay_ms=60_000)
    for inv in (queued, scheduled):
        done = await h.apply(InvocationControl("cancel", inv))
        assert done.reply is ControlResult.DONE
        # Its waiters hear 409 canceled; then it is gone, as in restate (a second cancel: 404).
        ended = [e for e in done.effects if isinstance(e, InvocationEnded)]
        assert [e.result for e in ended] == [failure_result(409, "canceled")]
        assert await store.read(lambda txn, i=inv: txn.get_invocation(i)) is None
        assert (await h.control("cancel", inv)).status == 404
    assert await store.read(lambda txn: txn.pop_inbox("Counter", "k")) is None
    assert await store.read(lambda txn: txn.all_timers()) == []
    await h.suspend(first, [1], [1])
    assert (await h.control("cancel", first)).status == 202
    row = await h.row(first)
    assert row.status == "running" and row.attempt == 2
    kind, note = (await h.journal(first))[-1]
    assert kind == MessageType.SIGNAL and note is not None and note.signal_id == 1
    assert note.WhichOneof("result") == "void"
    await h.frames(first, output(), END)
    assert (await h.control("cancel", first)).status == 409
    assert (await h.control("cancel", str(InvocationId.generate()))).status == 404


async def test_a_state_replacement_on_a_locked_key_waits_its_turn_in_the_inbox(
    store: Store,
) -> None:
    h = H(store)
    holder = await h.invoke("Counter", "add", "k")
    new = ((b"count", b"7"),)
    assert (await h.apply(ReplaceState("Counter", "k", new))).reply is StateChange.QUEUED
    after = await h.invoke("Counter", "add", "k")  # queued behind the replacement
    assert await store.read(lambda txn: txn.all_state("Counter", "k")) == []
    # The holder writes its own state, then ends: the replacement lands after it.
    write = pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"1"))
    await h.frames(holder, (MessageType.SET_STATE, write), output(), END)
    assert await store.read(lambda txn: txn.all_state("Counter", "k")) == [(b"count", b"7")]
    assert (await h.row(after)).status == "running"
    assert await store.read(lambda txn: txn.lock_holder("Counter", "k")) == after
    # A free key is replaced at once; a service has no state; an unknown service is 404.
    await h.frames(after, output(), END)
    assert (await h.apply(ReplaceState("Counter", "k", ()))).reply is StateChange.APPLIED
    assert await store.read(lambda txn: txn.all_state("Counter", "k")) == []
    with pytest.raises(InvalidRequest):
        await h.apply(ReplaceState("Svc", "k", ()))
    with pytest.raises(NotFound):
        await h.apply(ReplaceState("Nope", "k", ()))


async def test_lock_handover_skips_inbox_entries_that_are_no_longer_pending(
    store: Store,
) -> None:
    """B5: an inbox head that is not pending (here: completed behind the engine's back, as a
    crash between two writes of an older version could leave it) must not stop the queue."""
    h = H(store)
    holder = await h.invoke("Counter", "add", "k")
    stale = await h.invoke("Counter", "add", "k")
    waiting = await h.invoke("Counter", "add", "k")

    def finish_behind_the_back(txn: WriteTxn) -> None:
        row = txn.get_invocation(stale)
        assert row is not None
        txn.put_invocation(replace(row, status=InvocationStatus.COMPLETED))

    await store.write(finish_behind_the_back)
    await h.frames(holder, output(), END)
    assert (await h.row(waiting)).status == "running"
    assert await store.read(lambda txn: txn.lock_holder("Counter", "k")) == waiting


async def test_kill_completes_the_call_tree_and_releases_the_lock(store: Store) -> None:
    h = H(store)
    root = await h.invoke("Counter", "add", "root")
    # root calls Counter/a; Counter/a calls Counter/a again: a deadlock on the key.
    call = pb.CallCommandMessage(
        service_name="Counter",
        handler_name="add",
        key="a",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    await h.frames(root, (MessageType.CALL, call))
    child = next(n.invocation_id for t, n in await h.journal(root) if n and n.invocation_id)
    await h.frames(child, (MessageType.CALL, call))
    grandchild = next(n.invocation_id for t, n in await h.journal(child) if n and n.invocation_id)
    assert (await h.row(grandchild)).status == "pending"
    # An unrelated exclusive invocation queued on the same key must start after the kill.
    later = await h.invoke("Counter", "add", "a")
    await h.suspend(root, [2], [1])
    out = await h.apply(InvocationControl("kill", root))
    for inv in (root, child, grandchild):
        res = result_of(await h.row(inv))
        assert (res.failure.code, res.failure.message) == (409, "killed"), inv
    assert any(isinstance(e, AbortAttempt) and e.invocation_id == child for e in out.effects)
    assert {e.invocation_id for e in out.effects if isinstance(e, InvocationEnded)} == {
        root,
        child,
        grandchild,
    }
    assert (await h.row(later)).status == "running"
    assert await store.read(lambda txn: txn.lock_holder("Counter", "a")) == later
    assert (await h.control("kill", root)).status == 409


async def test_an_output_without_end_is_not_the_result_until_completed(store: Store) -> None:
    h = H(store)
    ik = idempotent_invocation_id("Ik", None, "go", "k1")
    await h.invoke("Ik", "go", invocation_id=ik, idempotency_key="k1")
    # The Output is stored, but End never comes: the attempt fails and will be retried.
    await h.frames(ik, output(b"early"))
    failed = AttemptFailed(ik, 1, 500, "boom")
    await h.apply(failed)
    assert (await h.row(ik)).status == "backing-off"

    async def duplicate() -> InvokeReply:
        cmd = Invoke(ik, "Ik", "go", None, (), b"", "k1", None)
        return (await h.apply(cmd)).reply

    # A duplicate idempotent call attaches (no result yet); output is "not ready".
    reply = await duplicate()
    assert not reply.created and reply.result is None
    waiters = ResultWaiters()

    async def unused_submit(command: Any) -> Any:
        raise AssertionError(command)

    routes = InvocationRoutes(ServerConfig(), store, unused_submit, waiters)

    async def by_key(operation: str) -> Response:
        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        path = f"/restate/invocation/Ik/go/k1/{operation}"
        request = Request("GET", path, {}, "", (), receive)
        route = IdempotentRoute(
            "Ik", None, "go", "k1", "attach" if operation == "attach" else "output"
        )
        return await routes.route(request, route)

    assert (await by_key("output")).status == 470
    attached = asyncio.ensure_future(by_key("attach"))
    await asyncio.sleep(0.05)
    assert not attached.done()
    # Killed: every caller sees the same final result, 409 killed.
    out = await h.apply(InvocationControl("kill", ik))
    for effect in out.effects:
        if isinstance(effect, InvocationEnded):
            waiters.resolve(effect)
    killed = failure_result(409, "killed")
    assert (await duplicate()).result == killed
    for response in (await attached, await by_key("output")):
        assert response.status == 409
        assert json.loads(response.body)["message"] == "killed"


async def test_pause_then_resume_on_another_deployment(store: Store) -> None:
    h = H(store)
    inv = await h.invoke("Counter", "add", "k")
    assert (await h.control("resume", await h.invoke("Counter", "add", "k"))).status == 425
    assert (await h.control("pause", inv)).status == 202
    row = await h.row(inv)
    assert row.status == "paused"
    assert (await h.control("pause", inv)).status == 200
    # The paused attempt's late frames are dropped (fencing by status).
    await h.apply(SdkFrames(inv, row.attempt, (Frame(MessageType.OUTPUT, 0, enc(output()[1])),)))
    assert (await h.row(inv)).journal_length == 1
    assert (await h.control("resume", inv, "dp_nope")).status == 400
    reply = await h.control("resume", inv, "dp_2")
    assert reply.status == 200
    row = await h.row(inv)
    assert (row.status, row.attempt, row.deployment_id) == ("running", 2, "dp_2")
    await h.suspend(inv, [5], [])
    assert (await h.control("resume", inv, "keep")).status == 200
    assert (await h.row(inv)).attempt == 3


# ---- retention -----------------------------------------------------------------------------


async def test_retention_and_the_cleaner(store: Store) -> None:
    h = H(store)
    # No retention (journal retention 0, no idempotency key): gone at completion.
    plain = await h.invoke("Svc", "go")
    await h.frames(plain, output(), END)
    assert await h.maybe_row(plain) is None
    # Idempotent: completion kept 2 s, journal 0.5 s.
    ik_id = idempotent_invocation_id("Ik", None, "go", "x")
    await h.invoke("Ik", "go", invocation_id=ik_id, idempotency_key="x")
    await h.frames(ik_id, output(), END)
    row = await h.row(ik_id)
    assert (row.completion_retention_ms, row.journal_retention_ms) == (2_000, 500)
    h.clock.advance(499)
    await h.apply(Cleanup())
    assert (await h.row(ik_id)).journal_length == 2  # Input, Output
    h.clock.advance(1)
    await h.apply(Cleanup())
    assert (await h.row(ik_id)).journal_length == 0
    assert await store.read(lambda txn: txn.read_journal(ik_id)) == []
    # Within retention the key deduplicates; after it (and a cleaner pass) it runs again.
    await h.invoke("Ik", "go", invocation_id=ik_id, idempotency_key="x")
    assert (await h.row(ik_id)).status == "completed"
    h.clock.advance(1_500)
    await h.apply(Cleanup())
    assert await h.maybe_row(ik_id) is None
    await h.invoke("Ik", "go", invocation_id=ik_id, idempotency_key="x")
    assert (await h.row(ik_id)).status == "running"
    # Default retention (1 day) for a virtual object call.
    inv = await h.invoke("Counter", "get", "k")
    assert (await h.row(inv)).completion_retention_ms == 86_400_000
    assert isinstance(Cleanup(), Cleanup)
