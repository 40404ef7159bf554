"""examples/orders.py: the happy path, and every way the saga compensates.

Run: scripts/test tests/examples/test_orders.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from perdure.client import Client, IngressError, SendHandle

from .conftest import Example, serve_example
from .harness import Server
from .helpers import cancel, effects, eventually, keys_once

DRIVER_TIMEOUT = 3.0  # seconds; the tests that accept, decline or cancel do so well before
CARD = "4242-4242-4242-4242"


@pytest.fixture(scope="module")
def example(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    yield from serve_example(
        "orders", server, tmp_path_factory, {"ORDERS_DRIVER_TIMEOUT": str(DRIVER_TIMEOUT)}
    )


async def place(
    example: Example,
    client: Client,
    card: str = CARD,
    items: tuple[str, ...] = ("pizza",),
    order_id: str | None = None,
) -> tuple[Any, SendHandle[Any]]:
    order_id = order_id or f"o-{os.urandom(4).hex()}"
    order = client.workflow(example.module.Order, order_id)
    request = example.module.OrderRequest("ann", card, list(items), amount_cents=1250)
    return order, await order.submit(request)


async def driver_callback(run_id: str) -> str:
    """The awakeable id the order offered to drivers (what the driver app would show)."""
    (offer,) = await eventually(lambda: effects("dispatch", run_id) or None, what="an offer")
    return str(offer["callback_id"])


def payments(run_id: str) -> list[tuple[str, int]]:
    return [(p["op"], p["amount_cents"]) for p in keys_once(effects("payments", run_id))]


def kitchen(run_id: str) -> list[str]:
    return [k["op"] for k in keys_once(effects("kitchen", run_id))]


async def test_accepted_order_is_delivered(example: Example, client: Client) -> None:
    order_id = f"o-{os.urandom(4).hex()}"
    order, handle = await place(example, client, order_id=order_id)
    await client.resolve_awakeable(await driver_callback(handle.invocation_id), "Dina")

    assert await order.attach() == example.module.Delivery(order_id, "Dina")
    assert await order.status() == "delivering with Dina"
    assert payments(handle.invocation_id) == [("charge", 1250)]
    assert kitchen(handle.invocation_id) == ["prepare"]


async def test_declined_card_fails_before_anything_else(example: Example, client: Client) -> None:
    order, handle = await place(example, client, card="4000-0000-0000-0002")
    with pytest.raises(IngressError) as failure:
        await order.attach()
    assert failure.value.code == 402
    # The refund was registered before the charge, and ran: nothing to refund, no record.
    assert payments(handle.invocation_id) == [("declined", 1250)]
    assert kitchen(handle.invocation_id) == []
    assert (await order.status()).startswith("cancelled: card 4000-0000-0000-0002 was declined")


async def test_sold_out_dish_refunds_the_payment(example: Example, client: Client) -> None:
    order, handle = await place(example, client, items=("pizza", "truffle pizza"))
    with pytest.raises(IngressError) as failure:
        await order.attach()
    assert (failure.value.code, failure.value.message) == (409, "sold out: truffle pizza")
    assert payments(handle.invocation_id) == [("charge", 1250), ("refund", 1250)]
    assert kitchen(handle.invocation_id) == ["cancel"]


async def test_no_driver_in_time_compensates(example: Example, client: Client) -> None:
    order, handle = await place(example, client)
    await driver_callback(handle.invocation_id)  # offered, and nobody answers
    with pytest.raises(IngressError) as failure:
        await order.attach()
    assert failure.value.code == 408
    assert payments(handle.invocation_id) == [("charge", 1250), ("refund", 1250)]
    assert kitchen(handle.invocation_id) == ["prepare", "cancel"]


async def test_declining_driver_compensates(example: Example, client: Client) -> None:
    order, handle = await place(example, client)
    await client.reject_awakeable(await driver_callback(handle.invocation_id), "too far away")
    with pytest.raises(IngressError) as failure:
        await order.attach()
    assert failure.value.message == "too far away"
    assert payments(handle.invocation_id) == [("charge", 1250), ("refund", 1250)]
    assert kitchen(handle.invocation_id) == ["prepare", "cancel"]
    assert await order.status() == "cancelled: too far away"


async def test_cancelled_order_compensates(example: Example, client: Client) -> None:
    order, handle = await place(example, client)
    await driver_callback(handle.invocation_id)  # waiting for a driver now

    await cancel(example.admin_url, handle.invocation_id)

    with pytest.raises(IngressError) as failure:
        await order.attach()
    assert failure.value.code == 409  # what a cancelled invocation fails with
    assert payments(handle.invocation_id) == [("charge", 1250), ("refund", 1250)]
    assert kitchen(handle.invocation_id) == ["prepare", "cancel"]
    assert (await order.status()).startswith("cancelled")
