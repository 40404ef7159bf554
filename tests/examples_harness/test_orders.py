"""examples/orders.py under perdure.testing: the saga with its awakeable and timeout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import fake_world
import pytest

from perdure.client import IngressError
from perdure.sdk.endpoint import Endpoint
from perdure.testing import Harness
from tests.examples.harness import load_example

orders = load_example("orders")

PIZZA = orders.OrderRequest(customer="ann", card="4242", items=["pizza"], amount_cents=1250)


@pytest.fixture
def perdure_app() -> Endpoint:
    return orders.app


async def place(h: Harness, order_id: str) -> Any:
    workflow = h.client.workflow(orders.Order, order_id)
    await workflow.submit(PIZZA)
    await h.settle()
    return workflow


async def deliver(h: Harness) -> Any:
    workflow = await place(h, "o-1")
    # After a crash the offer may have gone out twice (at least once, same callback id).
    offer = fake_world.entries("dispatch")[-1]
    await h.client.resolve_awakeable(offer["callback_id"], "Dina")
    return await workflow.attach()


async def test_a_driver_accepts(perdure_harness: Harness) -> None:
    delivery = await deliver(perdure_harness)
    assert (delivery.order_id, delivery.driver) == ("o-1", "Dina")
    assert [p["op"] for p in fake_world.entries("payments")] == ["charge"]
    assert len(fake_world.entries("dispatch")) == 1


async def test_no_driver_in_time_refunds(perdure_harness: Harness) -> None:
    h = perdure_harness
    workflow = await place(h, "o-2")
    await h.advance(orders.DRIVER_TIMEOUT + timedelta(seconds=1))
    with pytest.raises(IngressError) as failed:
        await workflow.attach()
    assert failed.value.code == 408
    assert [p["op"] for p in fake_world.entries("payments")] == ["charge", "refund"]
    assert (
        await workflow.status() == f"cancelled: no driver accepted within {orders.DRIVER_TIMEOUT}"
    )


async def test_every_crash_point_of_an_order(
    perdure_harness: Harness, own_world: Callable[[Harness], None]
) -> None:
    async def scenario(h: Harness) -> str:
        own_world(h)
        delivery = await deliver(h)
        return f"{delivery.order_id} {delivery.driver}"

    report = await perdure_harness.explore_crashes(scenario)
    print(f"\n{report}")
    assert report.ok and report.runs > 10


async def test_every_crash_point_of_a_compensation(
    perdure_harness: Harness, own_world: Callable[[Harness], None]
) -> None:
    async def scenario(h: Harness) -> list[str]:
        own_world(h)
        await place(h, "o-3")
        await h.advance(orders.DRIVER_TIMEOUT + timedelta(seconds=1))
        # A step the crash interrupted before its result was journaled runs again (at
        # least once); the provider deduplicates it by the step's idempotency key.
        return sorted({p["key"]: p["op"] for p in fake_world.entries("payments")}.values())

    report = await perdure_harness.explore_crashes(scenario)
    assert report.ok
