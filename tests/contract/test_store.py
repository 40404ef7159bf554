"""The store contract, written against `perdure.store.api` only."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from perdure.protocol.ids import InvocationId, idempotent_request_uuid, partition_key_for
from perdure.store.api import (
    DeploymentRow,
    InboxRow,
    InvocationRow,
    JobFailed,
    JournalEntryRow,
    ServiceRow,
    Store,
    TimerRow,
    WaiterRow,
    WriteTxn,
)


def invocation(id_: str = "inv_a", **changes: object) -> InvocationRow:
    row = InvocationRow(
        id=id_,
        service="Counter",
        handler="add",
        key="k",
        service_ty="VIRTUAL_OBJECT",
        handler_ty="EXCLUSIVE",
        status="running",
        created_at=1,
        modified_at=1,
        random_seed=(1 << 64) - 1,  # u64 max must round-trip
        waiting_completions=(1, 5),
        waiting_signals=(1,),
        waiting_named_signals=("go", "a,b"),  # names may hold any character
        last_failure="boom",
        last_failure_code=570,
        last_failure_stacktrace="at line 1",
        last_failure_command_index=2,
        last_failure_command_name="step",
        last_failure_command_type=0x0411,
        last_failure_doc_code="RT0016",
        first_attempt_at=1,
        last_attempt_at=2,
        result=b"\x00\x01",
    )
    return replace(row, **changes)  # type: ignore[arg-type]


async def test_invocation_round_trip(store: Store) -> None:
    row = invocation()
    await store.write(lambda txn: txn.put_invocation(row))
    assert await store.read(lambda txn: txn.get_invocation("inv_a")) == row
    updated = replace(row, status="completed", waiting_completions=())
    await store.write(lambda txn: txn.put_invocation(updated))
    assert await store.read(lambda txn: txn.get_invocation("inv_a")) == updated
    assert await store.read(lambda txn: txn.invocations_with_status("completed")) == [updated]
    assert await store.read(lambda txn: txn.get_invocation("missing")) is None


async def test_every_changed_column_reaches_the_database(store: Store) -> None:
    # The writer may write only the columns that changed since the row it holds (SQLite's
    # row cache): every column, changed alone or with others, must read back from a reader.
    row = invocation(waiting_completions=(), random_seed=7)
    await store.write(lambda txn: txn.put_invocation(row))
    changes: list[dict[str, object]] = [
        {"status": "suspended", "waiting_completions": (3,), "modified_at": 5},
        {"waiting_signals": (), "waiting_named_signals": ("x",)},
        {"random_seed": (1 << 64) - 2, "attempt": 3, "retry_count": 2},
        {"last_failure": None, "last_failure_code": None, "result": None},
        {"key": None, "deployment_id": "dp_1", "journal_length": 9, "commands": 4},
        {},  # unchanged: nothing to write
        {"status": "completed", "completed_at": 9, "result": b"done"},
    ]
    for change in changes:
        row = replace(row, **change)  # type: ignore[arg-type]
        await store.write(lambda txn, r=row: txn.put_invocation(r))
        assert await store.read(lambda txn: txn.get_invocation("inv_a")) == row

    # A row written twice in one job: the second write starts from the first.
    def twice(txn: WriteTxn) -> None:
        txn.put_invocation(replace(row, status="running", attempt=4))
        txn.put_invocation(replace(row, status="running", attempt=5))

    await store.write(twice)
    assert await store.read(lambda txn: txn.get_invocation("inv_a")) == replace(
        row, status="running", attempt=5
    )


async def test_journal_is_dense_and_append_only(store: Store) -> None:
    entries = [
        JournalEntryRow("inv_a", 0, 0x0400, b"input", 1),
        JournalEntryRow("inv_a", 1, 0x0411, b"run", 2),
        JournalEntryRow("inv_a", 2, 0x8011, b"done", 3, completion_id=1),
        JournalEntryRow("inv_a", 3, 0xFBFF, b"signal", 4, signal_id=17),
        JournalEntryRow("inv_a", 4, 0xFBFF, b"named", 5, signal_name="go"),
    ]

    def append_all(txn: WriteTxn) -> None:
        for entry in entries:
            txn.append_entry(entry)

    await store.write(append_all)
    assert await store.read(lambda txn: txn.read_journal("inv_a")) == entries
    assert await store.read(lambda txn: txn.has_notification("inv_a", [1], []))
    assert await store.read(lambda txn: txn.has_notification("inv_a", [], [17]))
    assert not await store.read(lambda txn: txn.has_notification("inv_a", [2], [1]))
    assert await store.read(lambda txn: txn.has_notification("inv_a", [], [], signal_names=["go"]))
    assert not await store.read(
        lambda txn: txn.has_notification("inv_a", [], [], 5, signal_names=["go"])
    )
    assert not await store.read(lambda txn: txn.has_notification("inv_a", [], [], 0, ["other"]))
    assert await store.read(lambda txn: txn.has_completion("inv_a", 1, 0x8011))
    with pytest.raises(Exception, match=r"(?i)unique"):
        await store.write(
            lambda txn: txn.append_entry(JournalEntryRow("inv_a", 1, 0x0411, b"x", 5))
        )
    assert (await store.read(lambda txn: txn.read_journal("inv_a")))[1].payload == b"run"


async def test_state(store: Store) -> None:
    def fill(txn: WriteTxn) -> None:
        txn.set_state("Counter", "k", b"b", b"2")
        txn.set_state("Counter", "k", b"a", b"1")
        txn.set_state("Counter", "other", b"a", b"x")

    await store.write(fill)
    assert await store.read(lambda txn: txn.all_state("Counter", "k")) == [
        (b"a", b"1"),
        (b"b", b"2"),
    ]
    await store.write(lambda txn: txn.clear_state("Counter", "k", b"a"))
    assert await store.read(lambda txn: txn.get_state("Counter", "k", b"a")) is None
    await store.write(lambda txn: txn.clear_all_state("Counter", "k"))
    assert await store.read(lambda txn: txn.all_state("Counter", "k")) == []
    assert await store.read(lambda txn: txn.get_state("Counter", "other", b"a")) == b"x"


async def test_lock_and_inbox_are_fifo(store: Store) -> None:
    def setup(txn: WriteTxn) -> None:
        txn.take_lock("L", "k", "inv_1")
        for name in ("inv_2", "inv_3", "inv_4"):
            txn.push_inbox("L", "k", name)
        txn.remove_from_inbox("inv_3")

    await store.write(setup)
    assert await store.read(lambda txn: txn.lock_holder("L", "k")) == "inv_1"
    with pytest.raises(Exception, match=r"(?i)unique"):
        await store.write(lambda txn: txn.take_lock("L", "k", "inv_9"))
    first = await store.write(lambda txn: txn.pop_inbox("L", "k"))
    second = await store.write(lambda txn: txn.pop_inbox("L", "k"))
    assert first is not None and first.invocation_id == "inv_2"
    assert second is not None and second.invocation_id == "inv_4"
    assert await store.write(lambda txn: txn.pop_inbox("L", "k")) is None
    await store.write(lambda txn: txn.release_lock("L", "k"))
    assert await store.read(lambda txn: txn.lock_holder("L", "k")) is None


async def test_timers_and_waiters(store: Store) -> None:
    late = await store.write(lambda txn: txn.add_timer(TimerRow(None, 20, "inv_a", "sleep", 3)))
    early = await store.write(
        lambda txn: txn.add_timer(TimerRow(None, 10, "inv_b", "retry", None, 2))
    )
    assert late.id is not None and early.id is not None
    assert [t.id for t in await store.read(lambda txn: txn.all_timers())] == [early.id, late.id]
    await store.write(lambda txn: txn.delete_timer(early.id or 0))
    assert await store.read(lambda txn: txn.get_timer(early.id or 0)) is None
    assert await store.read(lambda txn: txn.get_timer(late.id or 0)) == late

    def add(txn: WriteTxn) -> None:
        txn.add_waiter(WaiterRow("child", "caller", 2))
        txn.add_waiter(WaiterRow("child", "caller", 2))  # idempotent

    await store.write(add)
    assert await store.write(lambda txn: txn.take_waiters("child")) == [
        WaiterRow("child", "caller", 2)
    ]
    assert await store.write(lambda txn: txn.take_waiters("child")) == []


async def test_schema_tables(store: Store) -> None:
    deployment = DeploymentRow(
        "dp_1", "http://x", True, "REQUEST_RESPONSE", 5, 7, {"a": "b"}, None, 1, "{}"
    )
    service = ServiceRow("Counter", "dp_1", 1, "VIRTUAL_OBJECT", True, "{}")

    def put(txn: WriteTxn) -> None:
        txn.put_deployment(deployment)
        txn.put_service(service)

    await store.write(put)
    assert await store.read(lambda txn: txn.list_deployments()) == [deployment]
    assert await store.read(lambda txn: txn.get_service("Counter")) == service
    await store.write(lambda txn: txn.delete_service("Counter"))
    assert await store.read(lambda txn: txn.list_services()) == []


async def test_failed_job_rolls_back_alone_in_a_group(store: Store) -> None:
    def good(name: str):
        return lambda txn: txn.put_invocation(invocation(name))

    def bad(txn: WriteTxn) -> None:
        txn.put_invocation(invocation("inv_bad"))
        raise RuntimeError("boom")

    # Queued together: the store may commit them in one transaction.
    results = await asyncio.gather(
        store.write_nowait(good("inv_1")),
        store.write_nowait(bad),
        store.write_nowait(good("inv_2")),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert await store.read(lambda txn: txn.get_invocation("inv_bad")) is None
    # The writer's own view (its row cache, if it has one) forgot the failed job too.
    assert await store.write(lambda txn: txn.get_invocation("inv_bad")) is None
    assert await store.read(lambda txn: txn.get_invocation("inv_1")) is not None
    assert await store.read(lambda txn: txn.get_invocation("inv_2")) is not None


async def test_writes_are_applied_in_queue_order(store: Store) -> None:
    futures = [
        store.write_nowait(lambda txn, i=i: txn.set_state("S", "k", b"v", str(i).encode()))
        for i in range(50)
    ]
    await asyncio.gather(*futures)
    assert await store.read(lambda txn: txn.get_state("S", "k", b"v")) == b"49"


async def test_promises_first_completion_wins_and_listeners_are_taken_once(
    store: Store,
) -> None:
    def listen(txn: WriteTxn) -> None:
        txn.add_promise_listener("Wf", "k", "p", "inv_b", 3)
        txn.add_promise_listener("Wf", "k", "p", "inv_a", 7)
        txn.add_promise_listener("Wf", "k", "p", "inv_a", 7)  # idempotent
        txn.add_promise_listener("Wf", "k", "other", "inv_c", 1)

    await store.write(listen)
    assert await store.read(lambda txn: txn.get_promise("Wf", "k", "p")) is None
    assert await store.write(lambda txn: txn.complete_promise("Wf", "k", "p", b"first"))
    assert not await store.write(lambda txn: txn.complete_promise("Wf", "k", "p", b"second"))
    assert await store.read(lambda txn: txn.get_promise("Wf", "k", "p")) == b"first"
    taken = await store.write(lambda txn: txn.take_promise_listeners("Wf", "k", "p"))
    assert taken == [("inv_a", 7), ("inv_b", 3)]
    assert await store.write(lambda txn: txn.take_promise_listeners("Wf", "k", "p")) == []
    await store.write(lambda txn: txn.clear_promises("Wf", "k"))
    assert await store.read(lambda txn: txn.get_promise("Wf", "k", "p")) is None
    assert await store.write(lambda txn: txn.take_promise_listeners("Wf", "k", "other")) == []


async def test_deterministic_ids_name_one_invocation(store: Store) -> None:
    """An idempotent request's id is derived from its key: storing it again (the same
    request retried) updates the one row, found by that id."""
    uuid = idempotent_request_uuid("Counter", "k", "add", "once")
    id_ = str(InvocationId(partition_key_for("k"), uuid))
    assert id_ == str(InvocationId(partition_key_for("k"), uuid))
    first = invocation(id_, idempotency_key="once", status="ready")
    await store.write(lambda txn: txn.put_invocation(first))
    again = replace(first, status="completed", completed_at=5, result=b"\x01")
    await store.write(lambda txn: txn.put_invocation(again))
    assert await store.read(lambda txn: txn.get_invocation(id_)) == again
    listed = await store.read(lambda txn: txn.list_invocations())
    assert [row.id for row in listed] == [id_]


async def test_inbox_keeps_state_mutations_in_order(store: Store) -> None:
    def queue(txn: WriteTxn) -> list[InboxRow]:
        return [
            txn.push_inbox("Obj", "k", "inv_1"),
            txn.push_inbox("Obj", "k", None, state_mutation=b"new-state"),
            txn.push_inbox("Obj", "other", "inv_x"),
            txn.push_inbox("Obj", "k", "inv_2"),
            txn.push_inbox("Obj", "k", None, state_mutation=b"later"),
        ]

    pushed = await store.write(queue)
    assert pushed[0].seq < pushed[1].seq < pushed[3].seq < pushed[4].seq
    mutation = pushed[1]
    assert mutation.state_mutation == b"new-state"
    assert mutation.invocation_id != pushed[4].invocation_id  # placeholders are unique
    popped = []
    while (row := await store.write(lambda txn: txn.pop_inbox("Obj", "k"))) is not None:
        popped.append((row.invocation_id, row.state_mutation))
    assert popped == [
        ("inv_1", None),
        (mutation.invocation_id, b"new-state"),
        ("inv_2", None),
        (pushed[4].invocation_id, b"later"),
    ]
    assert (await store.write(lambda txn: txn.pop_inbox("Obj", "other"))) == pushed[2]


async def test_retention_queries(store: Store) -> None:
    def fill(txn: WriteTxn) -> None:
        done = dict(status="completed", completion_retention_ms=100, journal_retention_ms=10)
        txn.put_invocation(invocation("inv_old", completed_at=1_000, journal_length=2, **done))
        txn.put_invocation(invocation("inv_new", completed_at=5_000, journal_length=2, **done))
        txn.put_invocation(invocation("inv_nojournal", completed_at=900, **done))
        txn.put_invocation(invocation("inv_running", completed_at=1_000, status="running"))

    await store.write(fill)

    def ids(rows: list[InvocationRow]) -> list[str]:
        return [row.id for row in rows]

    assert ids(await store.read(lambda txn: txn.expired_completions(999, 10))) == []
    assert ids(await store.read(lambda txn: txn.expired_completions(1_100, 10))) == [
        "inv_nojournal",
        "inv_old",
    ]
    assert ids(await store.read(lambda txn: txn.expired_completions(1_100, 1))) == ["inv_nojournal"]
    assert ids(await store.read(lambda txn: txn.expired_journals(1_010, 10))) == ["inv_old"]
    assert ids(await store.read(lambda txn: txn.expired_journals(5_010, 10))) == [
        "inv_old",
        "inv_new",
    ]


async def test_write_many_commits_together_and_fails_alone(store: Store) -> None:
    def bad(txn: WriteTxn) -> None:
        txn.put_invocation(invocation("inv_bad"))
        raise RuntimeError("boom")

    results = await store.write_many_nowait(
        [
            lambda txn: txn.put_invocation(invocation("inv_1")) or "one",
            bad,
            lambda txn: txn.set_state("S", "k", b"v", b"x") or "three",
        ]
    )
    assert results[0] == "one" and results[2] == "three"
    assert isinstance(results[1], JobFailed) and str(results[1].error) == "boom"
    assert await store.read(lambda txn: txn.get_invocation("inv_bad")) is None
    assert await store.read(lambda txn: txn.get_invocation("inv_1")) is not None
    assert await store.read(lambda txn: txn.get_state("S", "k", b"v")) == b"x"


async def test_schema_version_moves_when_a_service_or_deployment_commits(store: Store) -> None:
    before = store.schema_version()
    await store.write(lambda txn: txn.put_invocation(invocation()))
    assert store.schema_version() == before
    service = ServiceRow("Counter", "dp_1", 1, "VIRTUAL_OBJECT", True, "{}")
    await store.write(lambda txn: txn.put_service(service))
    after_put = store.schema_version()
    assert after_put != before
    await store.write(lambda txn: txn.delete_service("Counter"))
    assert store.schema_version() != after_put
