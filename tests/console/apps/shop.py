"""The app the console tests serve with `perdure dev`: one of each thing the console shows.

- `Greeter` (service): `greet` journals a step; `greet_all` calls `greet` twice (a call tree).
- `Cart` (virtual object, state `items`): `add`, shared `items`, and `hold`, which keeps
  the key's lock until its awakeable is resolved (later `add`s of that key wait in the inbox).
- `Order` (workflow): `run` waits for the promise `decision`, then sleeps an hour; a cancel
  lands in one of those awaits and is compensated (stage `refunded`) before it fails.
- `Payments` (service): `charge` always fails with a retryable error and retries only after
  an hour, so it stays backing-off until an operator acts; `refund_all` fails terminally.
"""

from __future__ import annotations

from datetime import timedelta

import perdure
from perdure.sdk.retry_policy import InvocationRetryPolicy

greeter = perdure.Service("Greeter")


@greeter.handler()
async def greet(ctx: perdure.Context, name: str) -> str:
    return await ctx.run_typed("compose", lambda: f"Hello, {name}!")


@greeter.handler()
async def greet_all(ctx: perdure.Context, names: list[str]) -> list[str]:
    return [await ctx.service_call(greet, arg=name) for name in names]


cart = perdure.VirtualObject("Cart")


@cart.handler()
async def add(ctx: perdure.ObjectContext, item: str) -> list[str]:
    items = await ctx.get("items", type_hint=list[str]) or []
    items.append(item)
    ctx.set("items", items)
    return items


@cart.handler(kind="shared")
async def items(ctx: perdure.ObjectSharedContext) -> list[str]:
    return await ctx.get("items", type_hint=list[str]) or []


@cart.handler()
async def hold(ctx: perdure.ObjectContext) -> str:
    awakeable_id, released = ctx.awakeable(type_hint=str)
    ctx.set("held_by", awakeable_id)
    return await released


order = perdure.Workflow("Order")


@order.main()
async def run(ctx: perdure.WorkflowContext, item: str) -> str:
    ctx.set("stage", "waiting")
    try:
        decision = await ctx.promise("decision", type_hint=str).value()
        ctx.set("stage", decision)
        await ctx.sleep(timedelta(hours=1), name="cooling-off")
    except perdure.TerminalError:
        ctx.set("stage", "refunded")  # the compensation of a cancel
        raise
    ctx.set("stage", "shipped")
    return f"{item}: {decision}"


@order.handler()
async def decide(ctx: perdure.WorkflowSharedContext, decision: str) -> None:
    await ctx.promise("decision", type_hint=str).resolve(decision)


@order.handler()
async def stage(ctx: perdure.WorkflowSharedContext) -> str | None:
    return await ctx.get("stage", type_hint=str)


payments = perdure.Service(
    "Payments",
    invocation_retry_policy=InvocationRetryPolicy(
        initial_interval=timedelta(hours=1), max_interval=timedelta(hours=1)
    ),
)


@payments.handler()
async def charge(ctx: perdure.Context, amount: int) -> str:
    raise RuntimeError(f"card declined for {amount}")


@payments.handler()
async def refund_all(ctx: perdure.Context) -> str:
    raise perdure.TerminalError("refunds are closed today", status_code=400)


app = perdure.app(services=[greeter, cart, order, payments])
