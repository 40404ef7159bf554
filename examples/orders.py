"""Order processing as a saga: charge, prepare, find a driver; undo what was done on failure.

    perdure dev examples/orders.py
    curl localhost:8080/Order/o-1/run/send --json '{"customer": "ann",
        "card": "4242-4242-4242-4242", "items": ["pizza"], "amount_cents": 1250}'
    curl localhost:8080/Order/o-1/status
    # a driver accepts: the callback id is in dispatch.jsonl (see fake_world.py)
    curl localhost:8080/restate/awakeables/<callback id>/resolve --json '"Dina"'
    curl localhost:8080/restate/workflow/Order/o-1/attach

What it shows:

- Compensations (the saga pattern): each step that changes the world registers how to undo
  it *before* it runs, and a terminal failure runs the undo steps in reverse order. Undo
  steps are durable steps too, so a crash halfway through a rollback resumes the rollback.
- An awakeable is a callback any outside system can complete through the ingress (here the
  driver app, with the driver's name); racing it against a durable sleep is a timeout.
- Cancelling the invocation (``PATCH /invocations/<id>/cancel`` on the admin API) raises a
  TerminalError at the point where the order waits, so cancellation compensates as well.
- Which failures are terminal is the handler's choice: a declined card or a sold-out dish
  will not get better by retrying, so they become TerminalError; anything else (a network
  hiccup) is retried.

``ORDERS_DRIVER_TIMEOUT`` (seconds, default 300) sets how long to wait for a driver.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import fake_world
from fake_world import step_key

import perdure
from perdure import RunOptions, TerminalError, WorkflowContext, WorkflowSharedContext
from perdure.typed import handler, main

DRIVER_TIMEOUT = timedelta(seconds=float(os.environ.get("ORDERS_DRIVER_TIMEOUT", "300")))


@dataclass
class OrderRequest:
    customer: str
    card: str
    items: list[str]
    amount_cents: int


@dataclass
class Delivery:
    order_id: str
    driver: str


class Order(perdure.TypedWorkflow):
    """One order, keyed by its order id."""

    @main()
    async def run(ctx: WorkflowContext, order: OrderRequest) -> Delivery:
        order_id = ctx.key()
        undo: list[Callable[[], Awaitable[object]]] = []
        try:
            ctx.set("status", "paying")
            charge_key = step_key(ctx, "charge")
            # Registered first: the charge may go through even if we never hear back.
            undo.append(
                lambda: ctx.run_typed(
                    "refund", fake_world.refund, RunOptions(), step_key(ctx, "refund"), charge_key
                )
            )
            await ctx.run_typed("charge", charge, RunOptions(), charge_key, order)

            ctx.set("status", "preparing")
            undo.append(
                lambda: ctx.run_typed(
                    "cancel preparation",
                    fake_world.cancel_preparation,
                    RunOptions(),
                    step_key(ctx, "cancel"),
                    order_id,
                )
            )
            await ctx.run_typed(
                "prepare", prepare, RunOptions(), step_key(ctx, "prepare"), order_id, order.items
            )

            ctx.set("status", "finding-driver")
            driver = await find_driver(ctx, order_id)
        except TerminalError as failure:
            # Declined, sold out, no driver, driver declined, or cancelled: undo, newest first.
            ctx.set("status", f"compensating: {failure.message}")
            for step in reversed(undo):
                await step()
            ctx.set("status", f"cancelled: {failure.message}")
            raise

        ctx.set("status", f"delivering with {driver}")
        return Delivery(order_id=order_id, driver=driver)

    @handler()
    async def status(ctx: WorkflowSharedContext) -> str | None:
        return await ctx.get("status", type_hint=str)


async def find_driver(ctx: WorkflowContext, order_id: str) -> str:
    """The name of the driver who accepted the order; TerminalError if none in time."""
    callback_id, accepted = ctx.awakeable(type_hint=str)
    await ctx.run_typed(
        "offer to drivers",
        fake_world.offer_to_drivers,
        RunOptions(),
        step_key(ctx, "offer"),
        order_id,
        callback_id,
    )
    match await perdure.select(accepted=accepted, timeout=ctx.sleep(DRIVER_TIMEOUT)):
        case ["accepted", driver]:
            return str(driver)
    raise TerminalError(f"no driver accepted within {DRIVER_TIMEOUT}", status_code=408)


def charge(key: str, order: OrderRequest) -> str:
    try:
        return fake_world.charge(key, order.card, order.amount_cents)
    except fake_world.PaymentDeclined as declined:
        raise TerminalError(str(declined), status_code=402) from None


def prepare(key: str, order_id: str, items: list[str]) -> None:
    try:
        fake_world.prepare(key, order_id, items)
    except fake_world.OutOfStock as sold_out:
        raise TerminalError(str(sold_out), status_code=409) from None


app = perdure.app(services=[Order.definition])
