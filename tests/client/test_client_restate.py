"""perdure.client against the real restate-server 1.7.12, serving perdure services.

Run: scripts/test tests/client (inside a loopback-only network namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import pytest

from perdure.client import (
    Client,
    IngressError,
    IngressUnreachable,
    NotReadyError,
    SendHandle,
    connect,
)
from perdure.sdk.typed import TypedService, handler
from tests.support.ports import free_port

from .conftest import Stack
from .services.client_app import Counter, Failure, Greeter, Point, SignUp, Waiter, echo, swap

pytestmark = pytest.mark.interop

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 10) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within}s for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def background(work: Awaitable[T]) -> AsyncIterator[asyncio.Future[T]]:
    """Run `work` as a task for the block; cancel it if the block leaves it unfinished
    (a failing test), so no request outlives its event loop."""
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task


class Nowhere(TypedService, name="ClientNowhere"):
    """Defined here only: the server never heard of it."""

    @handler()
    async def hello(ctx: object, name: str) -> str:
        return name


async def test_service_call_returns_the_handler_result(client: Client) -> None:
    assert await client.service(Greeter).greet("Ann") == "Hello Ann"
    # An empty 200 body: decoded as None (the Python SDK's encoding of None).
    assert await client.service(Greeter).nothing() is None  # type: ignore[func-returns-value]


async def test_class_handler_reference_works_in_service_call(client: Client) -> None:
    assert await client.service(Greeter).greet_via_call("Bo") == "via call: Hello Bo"


async def test_headers_reach_the_handler_per_call_and_per_client(
    client: Client, stack: Stack
) -> None:
    greeter = client.service(Greeter)
    assert await greeter.header("x-per-call", headers={"x-per-call": "one"}) == "one"
    async with connect(stack.ingress_url, headers={"x-per-client": "two"}) as other:
        assert await other.service(Greeter).header("x-per-client") == "two"


async def test_object_calls_share_the_state_of_their_key(client: Client, key: str) -> None:
    counter = client.object(Counter, key)
    assert await counter.add(2) == 2
    assert await counter.add(3) == 5
    assert await counter.get() == 5
    assert await client.object(Counter, key + "-other").get() == 0


async def test_idempotent_call_runs_once(client: Client, key: str) -> None:
    counter = client.object(Counter, key)
    assert await counter.add(1, idempotency_key="once") == 1
    assert await counter.add(1, idempotency_key="once") == 1
    assert await counter.get() == 1


async def test_delayed_idempotent_send_is_accepted_once_and_attachable(
    client: Client, key: str
) -> None:
    counter = client.object(Counter, key)
    started = time.monotonic()
    first = await counter.add.send(7, delay=timedelta(seconds=1), idempotency_key="ik")
    second = await counter.add.send(7, delay=timedelta(seconds=1), idempotency_key="ik")
    assert first.status == "Accepted" and not first.previously_accepted
    assert second.status == "PreviouslyAccepted" and second.previously_accepted
    assert second.invocation_id == first.invocation_id
    assert first.invocation_id.startswith("inv_1")
    assert await counter.get() == 0, "ran before its delay"
    assert not (await first.output()).ready

    assert await first.attach() == 7
    assert time.monotonic() - started >= 0.9
    assert await second.attach() == 7
    assert await counter.get() == 7, "the duplicate send ran too"
    output = await first.output()
    assert output.ready and output.value == 7
    by_id = client.invocation(first.invocation_id, Counter.add)
    assert await by_id.attach() == 7
    assert await client.invocation(first.invocation_id).attach() == 7  # untyped: JSON


async def test_delayed_send_reports_its_execution_time(client: Client, key: str) -> None:
    handle = await client.object(Counter, key).add.send(1, delay=timedelta(milliseconds=200))
    assert handle.execution_time is not None
    assert handle.execution_time.tzinfo is not None


async def test_send_by_handler_reference_with_key(client: Client, key: str) -> None:
    handle = await client.send(Counter.add, 4, key=key, idempotency_key="ref")
    assert await handle.attach() == 4
    assert await client.call(Counter.get, key=key) == 4


async def test_workflow_submit_output_attach(client: Client, key: str) -> None:
    workflow = client.workflow(SignUp, key)
    submitted = await workflow.submit("ann@example.com")
    again = await workflow.submit("ann@example.com")
    assert submitted.status == "Accepted"
    assert again.status == "PreviouslyAccepted"
    assert again.invocation_id == submitted.invocation_id

    assert await eventually(workflow.stage, "the run to wait for approval") == "waiting"
    output = await workflow.output()
    assert not output.ready
    with pytest.raises(NotReadyError) as not_ready:
        _ = output.value
    assert not_ready.value.status == 470
    assert not (await submitted.output()).ready

    expected = "ann@example.com approved with s3cret"
    async with background(workflow.attach()) as attached:
        await asyncio.sleep(0.2)
        assert not attached.done(), "attach returned before the workflow finished"
        await workflow.approve("s3cret")
        assert await asyncio.wait_for(attached, 20) == expected
    done = await workflow.output()
    assert done.ready and done.value == expected
    assert await submitted.attach() == expected
    assert await workflow.stage() == "done"


async def test_workflow_run_call_after_submit_is_a_conflict(client: Client, key: str) -> None:
    workflow = client.workflow(SignUp, key)
    await workflow.submit("bob@example.com")
    with pytest.raises(IngressError) as conflict:
        await workflow.run("bob@example.com")
    assert conflict.value.status == 409
    await asyncio.wait_for(workflow.approve("x"), 10)
    assert await workflow.attach() == "bob@example.com approved with x"


async def _waiting_awakeable(client: Client, key: str) -> tuple[str, SendHandle[str]]:
    waiter = client.object(Waiter, key)
    handle = await waiter.wait.send(idempotency_key="wait")
    awakeable_id = await eventually(waiter.awakeable_id, "the awakeable to be created")
    return awakeable_id, handle


async def test_resolve_awakeable(client: Client, key: str) -> None:
    awakeable_id, handle = await _waiting_awakeable(client, key)
    await client.resolve_awakeable(awakeable_id, "from the client")
    assert await handle.attach() == "from the client"


async def test_reject_awakeable(client: Client, key: str) -> None:
    awakeable_id, handle = await _waiting_awakeable(client, key)
    await client.reject_awakeable(awakeable_id, "no way")
    with pytest.raises(IngressError) as failure:
        await handle.attach()
    assert failure.value.source == "invocation"
    assert failure.value.message == "no way"
    assert failure.value.code == 500


async def test_terminal_error_carries_status_code_message_metadata(client: Client) -> None:
    with pytest.raises(IngressError) as failure:
        await client.service(Greeter).fail(Failure("nope", 418, {"why": "teapot"}))
    error = failure.value
    assert (error.status, error.code, error.message) == (418, 418, "nope")
    assert error.metadata == {"why": "teapot"}
    assert error.source == "invocation" and error.is_invocation_failure
    assert error.invocation_id is not None and error.invocation_id.startswith("inv_")


async def test_ingress_errors_have_source_ingress(client: Client) -> None:
    with pytest.raises(IngressError) as unknown_service:
        await client.service(Nowhere).hello("x")
    assert unknown_service.value.status == 404
    assert unknown_service.value.source == "ingress"
    assert "ClientNowhere" in unknown_service.value.message

    unknown_id = "inv_1aiqX0vFEFNH1Umgre58JiCLgHfTtztYK5"
    with pytest.raises(IngressError) as unknown_invocation:
        await client.invocation(unknown_id).output()
    assert unknown_invocation.value.status == 404


async def test_restate_style_definitions(client: Client) -> None:
    assert await client.call(swap, Point(x=1, y=2)) == Point(x=2, y=1)
    assert await client.service(echo).swap(Point(x=3, y=4)) == Point(x=4, y=3)
    with pytest.raises(AttributeError, match="no handler 'swop'"):
        client.service(echo).swop  # noqa: B018


async def test_unreachable_ingress() -> None:
    async with connect(f"http://127.0.0.1:{free_port()}") as nowhere:
        with pytest.raises(IngressUnreachable) as failure:
            await nowhere.service(Greeter).greet("x")
    assert failure.value.status is None
    assert isinstance(failure.value, IngressError)
