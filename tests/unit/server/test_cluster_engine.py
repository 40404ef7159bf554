"""The engine in cluster mode, on a real PostgreSQL, without nodes or HTTP: one engine per
partition (each scoped to it, its writes fenced by its lease), and the partitions'
inboxes applied by hand. Whatever one partition's command does to an invocation of
another partition arrives there as a message, applied once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, TypeVar

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import Frame
from perdure.protocol.ids import AwakeableId, InvocationId, partition_key_for
from perdure.protocol.messages import MessageType
from perdure.server.clock import ManualClock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    ENDED,
    Applied,
    ApplyMessage,
    Command,
    Engine,
    InvocationControl,
    InvocationEnded,
    Invoke,
    InvokeReply,
    PartitionScope,
    Recover,
    Reply,
    Routed,
    SdkFrames,
    StartAttempt,
    decode_wire,
    encode_wire,
)
from perdure.store.api import (
    DeploymentRow,
    InvocationRow,
    JobFailed,
    Lease,
    PartitionTables,
    ServiceRow,
    WriteTxn,
)
from perdure.store.partitioning import partition_of
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.coordination import Coordination
from tests.support.postgres import shared_cluster

PARTITIONS = 4
NODE = "n"
R = TypeVar("R")
MANIFEST = {
    "name": "Counter",
    "ty": "VIRTUAL_OBJECT",
    "handlers": [{"name": "add", "ty": "EXCLUSIVE"}, {"name": "get", "ty": "SHARED"}],
}


def key_in(partition: int, prefix: str = "k") -> str:
    """A key whose invocations live in `partition`."""
    n = 0
    while partition_of(partition_key_for(f"{prefix}{n}"), PARTITIONS) != partition:
        n += 1
    return f"{prefix}{n}"


class Cluster:
    """One node holding every partition, one scoped engine per partition."""

    def __init__(self, store: PostgresStore, leases: dict[int, int]) -> None:
        self.store = store
        self.clock = ManualClock()
        config = ServerConfig(partitions=PARTITIONS)
        self.leases = {p: Lease(p, NODE, e) for p, e in leases.items()}
        self.engines = {
            p: Engine(config, self.clock, PartitionScope(p, PARTITIONS, NODE)) for p in leases
        }
        self.effects: list[Any] = []

    async def apply(self, partition: int, command: Command[R]) -> Applied[R]:
        job = partial(self.engines[partition].apply, command=command)
        [applied] = await self.store.write_many_nowait([job], self.leases[partition])
        assert not isinstance(applied, JobFailed), applied.error
        self.effects.extend(applied.effects)
        return applied

    async def at(self, invocation_id: str, command: Command[R]) -> Applied[R]:
        pk = InvocationId.parse(invocation_id).partition_key
        return await self.apply(partition_of(pk, PARTITIONS), command)

    async def invoke(self, key: str, handler: str = "add") -> str:
        invocation_id = str(InvocationId.generate(partition_key_for(key)))
        await self.at(invocation_id, Invoke(invocation_id, "Counter", handler, key, (), b"1"))
        return invocation_id

    async def frames(self, invocation_id: str, attempt: int, *messages: Any) -> None:
        frames = tuple(Frame(t, 0, m.SerializeToString()) for t, m in messages)
        await self.at(invocation_id, SdkFrames(invocation_id, attempt, frames))

    async def inbox(self) -> list[tuple[int, int, bytes]]:
        db = Coordination(self.store.conninfo, "test")
        try:
            return await db.read_messages(range(PARTITIONS), 100)
        finally:
            await db.close()

    async def deliver(self) -> int:
        """Apply every inbox message (and those they send) until none is left."""
        applied = 0
        while messages := await self.inbox():
            for message_id, partition, body in messages:
                await self.apply(partition, ApplyMessage(message_id, body))
                applied += 1
        return applied

    async def row(self, invocation_id: str) -> InvocationRow:
        row = await self.store.read(lambda txn: txn.get_invocation(invocation_id))
        assert row is not None
        return row

    async def journal(self, invocation_id: str) -> list[int]:
        entries = await self.store.read(lambda txn: txn.read_journal(invocation_id))
        return [e.type for e in entries]

    def started(self, invocation_id: str) -> list[int]:
        return [
            e.plan.attempt
            for e in self.effects
            if isinstance(e, StartAttempt) and e.plan.invocation_id == invocation_id
        ]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    url = shared_cluster().create_database()
    store = PostgresStore.open(url, PARTITIONS, node=NODE, lock_wait_s=0.2)
    db = Coordination(url, "test leases")
    try:
        await db.ensure_leases(PARTITIONS)
        leases = await db.acquire(NODE, (), PARTITIONS, 600_000)

        def schema(txn: WriteTxn) -> None:
            txn.put_deployment(
                DeploymentRow("dp_1", "http://x", True, "REQUEST_RESPONSE", 5, 7, {}, None, 0, "{}")
            )
            txn.put_service(
                ServiceRow("Counter", "dp_1", 1, "VIRTUAL_OBJECT", True, json.dumps(MANIFEST))
            )

        await store.write(schema)
        yield Cluster(store, leases)
    finally:
        await db.close()
        await store.close()


def call(key: str, result: int = 2) -> tuple[int, pb.CallCommandMessage]:
    message = pb.CallCommandMessage(
        service_name="Counter",
        handler_name="add",
        key=key,
        parameter=b"5",
        invocation_id_notification_idx=1,
        result_completion_id=result,
    )
    return MessageType.CALL, message


def suspend(*completions: int) -> tuple[int, pb.SuspensionMessage]:
    return MessageType.SUSPENSION, pb.SuspensionMessage(waiting_completions=list(completions))


def finish(value: bytes) -> list[tuple[int, Any]]:
    output = pb.OutputCommandMessage(value=pb.Value(content=value))
    return [(MessageType.OUTPUT, output), (MessageType.END, pb.EndMessage())]


async def call_across(cluster: Cluster) -> tuple[str, str]:
    """A caller in partition 0 calls a child in partition 1 and suspends on its result."""
    caller = await cluster.invoke(key_in(0))
    await cluster.frames(caller, 1, call(key_in(1)), suspend(2))
    [(_, partition, _)] = await cluster.inbox()
    assert partition == 1  # the child's creation waits in its partition's inbox
    assert await cluster.journal(caller) == [
        MessageType.INPUT,
        MessageType.CALL,
        MessageType.CALL_INVOCATION_ID_COMPLETION,
    ]
    entries = await cluster.store.read(lambda txn: txn.read_journal(caller))
    notification = pb.NotificationTemplate()
    notification.ParseFromString(entries[2].payload)
    return caller, notification.invocation_id


async def test_a_call_creates_its_child_in_the_other_partition_and_gets_its_result(
    cluster: Cluster,
) -> None:
    caller, child = await call_across(cluster)
    assert (await cluster.row(caller)).status == "suspended"
    assert await cluster.deliver() == 1
    assert (await cluster.row(child)).caller_id == caller
    assert cluster.started(child) == [1]

    await cluster.frames(child, 1, *finish(b"7"))
    assert (await cluster.row(caller)).status == "suspended"  # the result is on its way
    assert await cluster.deliver() == 1
    assert await cluster.journal(caller) == [
        MessageType.INPUT,
        MessageType.CALL,
        MessageType.CALL_INVOCATION_ID_COMPLETION,
        MessageType.CALL_COMPLETION,
    ]
    assert (await cluster.row(caller)).status == "running"
    assert cluster.started(caller) == [1, 2]  # resumed by the result


async def test_an_inbox_message_is_applied_once(cluster: Cluster) -> None:
    await call_across(cluster)
    [(message_id, partition, body)] = await cluster.inbox()
    await cluster.apply(partition, ApplyMessage(message_id, body))
    before = len(cluster.effects)
    await cluster.apply(partition, ApplyMessage(message_id, body))  # again: taken already
    assert cluster.effects[before:] == []
    count = await cluster.store.read(
        lambda txn: len(txn.invocations_with_status("running"))  # type: ignore[arg-type]
    )
    assert count == 1  # one child, though its message was submitted twice


async def test_killing_a_caller_kills_its_child_in_the_other_partition(cluster: Cluster) -> None:
    caller, child = await call_across(cluster)
    await cluster.deliver()
    await cluster.at(caller, InvocationControl("kill", caller))
    assert (await cluster.row(caller)).status == "completed"
    assert (await cluster.row(child)).status == "running"
    await cluster.deliver()
    killed = await cluster.row(child)
    assert killed.status == "completed" and killed.result is not None
    assert b"killed" in killed.result


async def test_an_attach_is_answered_from_the_target_partition(cluster: Cluster) -> None:
    target = await cluster.invoke(key_in(1))
    attacher = await cluster.invoke(key_in(0))
    attach = pb.AttachInvocationCommandMessage(invocation_id=target, result_completion_id=1)
    await cluster.frames(attacher, 1, (MessageType.ATTACH_INVOCATION, attach), suspend(1))
    assert await cluster.deliver() == 1  # the target's partition registers the attacher
    await cluster.frames(target, 1, *finish(b"9"))
    assert await cluster.deliver() == 1
    journal = await cluster.journal(attacher)
    assert journal[-1] == MessageType.ATTACH_INVOCATION_COMPLETION
    assert (await cluster.row(attacher)).status == "running"


async def test_an_awakeable_completed_from_another_partition_resumes_its_owner(
    cluster: Cluster,
) -> None:
    waiting = await cluster.invoke(key_in(0))
    await cluster.frames(
        waiting, 1, (MessageType.SUSPENSION, pb.SuspensionMessage(waiting_signals=[17]))
    )
    completer = await cluster.invoke(key_in(1))
    awakeable = str(AwakeableId(InvocationId.parse(waiting), 17))
    complete = pb.CompleteAwakeableCommandMessage(
        awakeable_id=awakeable, value=pb.Value(content=b"ok")
    )
    await cluster.frames(completer, 1, (MessageType.COMPLETE_AWAKEABLE, complete))
    assert await cluster.deliver() == 1
    assert (await cluster.journal(waiting))[-1] == MessageType.SIGNAL
    assert cluster.started(waiting) == [1, 2]


async def test_a_routed_invoke_is_answered_and_its_result_sent_to_the_waiting_node(
    cluster: Cluster,
) -> None:
    key = key_in(2)
    invocation_id = str(InvocationId.generate(partition_key_for(key)))
    invoke = Invoke(invocation_id, "Counter", "add", key, (), b"1")

    def post(txn: WriteTxn) -> None:
        tables: PartitionTables = txn  # type: ignore[assignment]
        tables.push_message(2, encode_wire(Routed(invoke, "other", "request-1", watch=True)))

    await cluster.store.write(post)
    await cluster.deliver()
    db = Coordination(cluster.store.conninfo, "test")
    try:
        [(request_id, body)] = await db.take_replies("other")
        assert request_id == "request-1"
        reply = decode_wire(body)
        assert isinstance(reply, Reply) and isinstance(reply.value, InvokeReply)
        assert reply.value.created and reply.value.invocation_id == invocation_id

        await cluster.frames(invocation_id, 1, *finish(b"3"))
        [(request_id, body)] = await db.take_replies("other")
        assert request_id == ENDED + invocation_id
        ended = decode_wire(body)
        assert isinstance(ended, InvocationEnded) and ended.invocation_id == invocation_id
    finally:
        await db.close()


async def test_a_routed_command_refused_replies_with_the_error(cluster: Cluster) -> None:
    missing = str(InvocationId.generate(partition_key_for(key_in(3))))

    def post(txn: WriteTxn) -> None:
        tables: PartitionTables = txn  # type: ignore[assignment]
        routed = Routed(InvocationControl("kill", missing), "other", "r")
        tables.push_message(3, encode_wire(routed))

    await cluster.store.write(post)
    assert await cluster.deliver() == 1  # the refusal does not leave the message behind
    db = Coordination(cluster.store.conninfo, "test")
    try:
        [(_, body)] = await db.take_replies("other")
    finally:
        await db.close()
    reply = decode_wire(body)
    assert isinstance(reply, Reply) and reply.error == "NotFound"


async def test_recover_restarts_only_its_own_partition(cluster: Cluster) -> None:
    here, there = await cluster.invoke(key_in(0)), await cluster.invoke(key_in(3))
    await cluster.apply(0, Recover())
    assert cluster.started(here) == [1, 2]
    assert cluster.started(there) == [1]
