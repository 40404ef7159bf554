"""The in-process transport (embedded mode) and the idempotent embedded registration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

import perdure
from perdure.cli.dev import embedded_app
from perdure.protocol.framing import FrameDecoder, encode_frame
from perdure.protocol.messages import MessageType
from perdure.sdk.endpoint import Endpoint
from perdure.server.clock import SystemClock
from perdure.server.embedded import register_embedded
from perdure.server.engine import AttemptFailed, AttemptPlan, NotificationCommitted, SdkFrames
from perdure.server.invoker.driver import AttemptTransport, run_session
from perdure.server.invoker.headers import attempt_headers
from perdure.server.invoker.in_process import (
    AttemptRunner,
    ByteStreams,
    InProcessTransport,
    runner_for,
)
from perdure.server.invoker.mailboxes import Mailbox
from perdure.server.invoker.session import AttemptSession
from perdure.store.api import Store
from perdure.store.sqlite import SqliteStore

BODY = b"start-and-journal"  # opaque to the transport: it only carries bytes
END = encode_frame(MessageType.END, b"")
NOTIFICATION_TYPE = 0x8001


def plan(inactivity_ms: int = 60_000, abort_ms: int = 60_000) -> AttemptPlan:
    return AttemptPlan(
        invocation_id="inv_1",
        attempt=3,
        service="S",
        handler="h",
        key=None,
        deployment_id="dp_1",
        uri="embedded:///app.py",
        use_http_11=False,
        additional_headers={},
        protocol_version=6,
        body=BODY,
        protocol_mode="BIDI_STREAM",
        inactivity_timeout_ms=inactivity_ms,
        abort_timeout_ms=abort_ms,
    )


Submitted = SdkFrames | AttemptFailed


class Recorder:
    def __init__(self) -> None:
        self.commands: list[Submitted] = []

    async def __call__(self, command: Submitted) -> None:
        self.commands.append(command)


async def run(
    runner: AttemptRunner, mailbox: Mailbox | None, attempt: AttemptPlan | None = None
) -> list[Submitted]:
    """One attempt as the invoker runs it: the session over the in-process transport."""
    the_plan = attempt or plan()
    submitted = Recorder()

    async def open_transport() -> AttemptTransport:
        return InProcessTransport(the_plan, runner, attempt_headers(the_plan, "test", None))

    session = AttemptSession(the_plan, 1 << 20, streaming=mailbox is not None)
    await asyncio.wait_for(
        run_session(
            session,
            open_transport,
            clock=SystemClock(),
            submit_frames=submitted,
            submit_failure=submitted,
            mailbox=mailbox,
        ),
        timeout=10,
    )
    return submitted.commands


async def test_without_a_mailbox_the_input_ends_after_the_journal() -> None:
    """Request-response (forced, or inactivity timeout 0): the handler must suspend."""
    seen: list[bytes | None] = []

    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        assert (service, handler, version) == ("S", "h", 6)
        assert headers["x-restate-invocation-id"] == "inv_1"
        seen.append(await io.receive())
        seen.append(await io.receive())
        await io.send(END)

    commands = await run(runner, None)
    assert seen == [BODY, None]
    [frames] = commands
    assert isinstance(frames, SdkFrames) and frames.attempt == 3
    assert [f.type for f in frames.frames] == [MessageType.END]


async def test_committed_notifications_stream_to_the_running_handler() -> None:
    mailbox = Mailbox("inv_1", 3, next_index=2)
    got: list[bytes | None] = []

    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        got.append(await io.receive())
        mailbox.put(NotificationCommitted("inv_1", 3, 2, NOTIFICATION_TYPE, b"v"))
        got.append(await io.receive())
        await io.send(END[:3])  # a frame split across writes, as over a socket
        await io.send(END[3:])
        got.append(await io.receive())  # the server ends the input after End

    commands = await run(runner, mailbox)
    assert got[0] == BODY
    assert got[1] is not None
    [frame] = FrameDecoder().feed(got[1])
    assert (frame.type, frame.payload) == (NOTIFICATION_TYPE, b"v")
    assert got[2] is None
    assert [type(c) for c in commands] == [SdkFrames]


async def test_inactivity_closes_the_input_then_abort_timeout_fails_the_attempt() -> None:
    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        while await io.receive() is not None:
            pass
        await asyncio.Event().wait()  # never answers; cancelled by the transport

    commands = await run(runner, Mailbox("inv_1", 3, 0), plan(inactivity_ms=50, abort_ms=50))
    [failed] = commands
    assert isinstance(failed, AttemptFailed)
    assert "abort timeout" in failed.message


async def test_an_unknown_handler_fails_the_attempt_with_a_clear_message() -> None:
    async def runner(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        raise LookupError("the app has no handler S/h")

    [failed] = await run(runner, None)
    assert isinstance(failed, AttemptFailed)
    assert "the embedded app cannot serve this handler: the app has no handler S/h" in (
        failed.message
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore.open(tmp_path / "data")
    try:
        yield opened
    finally:
        await opened.close()


def endpoint(*handlers: str) -> Endpoint:
    service = perdure.Service("Greeter")
    for name in handlers:

        async def handle(ctx: perdure.Context) -> None:
            pass

        handle.__name__ = name
        service.handler(name=name)(handle)
    return perdure.app([service])


async def test_registration_is_idempotent_and_keeps_the_id_when_the_app_changes(
    store: Store,
) -> None:
    uri = "embedded:///app.py"
    [first] = await register_embedded(store, [embedded_app(endpoint("a"), uri)], now=1)
    [again] = await register_embedded(store, [embedded_app(endpoint("a"), uri)], now=2)
    assert again == first
    unchanged = await store.read(lambda txn: txn.get_service("Greeter"))
    assert unchanged is not None and unchanged.revision == 1  # nothing rewritten

    [changed] = await register_embedded(store, [embedded_app(endpoint("a", "b"), uri)], now=3)
    assert changed.id == first.id  # in-flight invocations stay pinned to a live deployment
    service = await store.read(lambda txn: txn.get_service("Greeter"))
    assert service is not None and service.deployment_id == first.id
    assert service.revision == 2
    handlers = json.loads(service.manifest_json)["handlers"]
    assert sorted(h["name"] for h in handlers) == ["a", "b"]
    assert len(await store.read(lambda txn: txn.list_deployments())) == 1


async def test_an_embedded_deployment_not_hosted_here_fails_saying_what_to_do() -> None:
    [failed] = await run(runner_for("embedded:///other.py", {}), None)
    assert isinstance(failed, AttemptFailed)
    assert "embedded:///other.py is not hosted by this process" in failed.message
    assert "perdure dev" in failed.message
