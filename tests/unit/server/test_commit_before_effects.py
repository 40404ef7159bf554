"""Nothing is acknowledged before it is committed, proven in one process (no subprocess).

The partition processor, timer service, invoker and ingress app run over a temporary
SQLite store whose commits can be held back on the writer thread. While a commit is held:
the ingress caller gets no answer, no attempt starts, and no notification reaches the
running handler. Releasing the commit lets each of them happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import perdure
from perdure.cli.dev import embedded_app
from perdure.sdk.endpoint import Endpoint
from perdure.server.app import Components
from perdure.server.clock import SystemClock
from perdure.server.config import ServerConfig
from perdure.server.embedded import register_embedded
from perdure.server.engine import Effect, NotificationCommitted, StartAttempt
from perdure.store.sqlite import SqliteStore

URI = "embedded:///commit-test.py"
WAIT_S = 10.0


class CommitGate:
    """Holds every commit on the writer thread while closed; says when one is held."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.holding = threading.Event()

    def __call__(self) -> None:  # runs on the writer thread, right before COMMIT
        if not self._open.is_set():
            self.holding.set()
            self._open.wait(WAIT_S)
            self.holding.clear()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def wait_holding(self) -> None:
        assert await asyncio.to_thread(self.holding.wait, WAIT_S), "no commit reached the gate"


@dataclass
class World:
    components: Components
    gate: CommitGate
    effects: list[Effect] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # handler names, as attempts start
    awakeable: asyncio.Future[str] = field(default_factory=asyncio.Future)
    resolved: asyncio.Event = field(default_factory=asyncio.Event)


def app(world_ref: list[World]) -> Endpoint:
    greeter = perdure.Service("Greeter")

    @greeter.handler()
    async def greet(ctx: perdure.Context, name: str) -> str:
        world_ref[0].attempts.append("greet")
        return f"hi {name}"

    @greeter.handler()
    async def wait(ctx: perdure.Context) -> str:
        world = world_ref[0]
        world.attempts.append("wait")
        awakeable_id, promise = ctx.awakeable(type_hint=str)
        if not world.awakeable.done():
            world.awakeable.set_result(awakeable_id)
        value = await promise
        world.resolved.set()
        return value

    return perdure.app([greeter])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    gate = CommitGate()
    store = SqliteStore.open(tmp_path / "data", before_commit=gate)
    ref: list[World] = []
    embedded = embedded_app(app(ref), URI)
    config = ServerConfig(data_dir=tmp_path / "data")
    try:
        await register_embedded(store, [embedded], 0)
        components = Components(config, store, SystemClock(), [embedded])
        world = World(components, gate)
        ref.append(world)
        run_effect = components.run_effect

        def recording(effect: Effect) -> None:
            world.effects.append(effect)
            run_effect(effect)

        components.processor._effects = recording
        running = asyncio.create_task(components.run())
        await asyncio.wait_for(components.started.wait(), WAIT_S)
        try:
            yield world
        finally:
            gate.open()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    finally:
        gate.open()
        await store.close()


def ingress(world: World) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=world.components.ingress)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://ingress", timeout=WAIT_S)


async def test_no_reply_and_no_attempt_before_the_invocation_committed(world: World) -> None:
    async with ingress(world) as client:
        world.gate.close()
        call = asyncio.ensure_future(client.post("/Greeter/greet", json="Ann"))
        await world.gate.wait_holding()  # the new invocation is applied, not yet committed
        assert not call.done()
        assert world.effects == [] and world.attempts == []
        world.gate.open()
        response = await asyncio.wait_for(call, WAIT_S)
    assert response.status_code == 200 and response.json() == "hi Ann"
    assert world.attempts == ["greet"]
    assert isinstance(world.effects[0], StartAttempt)


async def test_no_notification_reaches_a_handler_before_it_committed(world: World) -> None:
    async with ingress(world) as client:
        call = asyncio.ensure_future(client.post("/Greeter/wait", content=b""))
        awakeable_id = await asyncio.wait_for(world.awakeable, WAIT_S)
        world.gate.close()
        resolve = asyncio.ensure_future(
            client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="done")
        )
        await world.gate.wait_holding()  # the signal is in the journal, not yet committed
        assert not resolve.done() and not world.resolved.is_set()
        assert not any(isinstance(e, NotificationCommitted) for e in world.effects)
        world.gate.open()
        assert (await asyncio.wait_for(resolve, WAIT_S)).status_code == 202
        response = await asyncio.wait_for(call, WAIT_S)
    assert json.loads(response.content) == "done"
    assert world.resolved.is_set()
