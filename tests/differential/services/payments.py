"""Durable RPC with idempotency keys (Restate's "payments" pattern): `charge` debits an
account object through a call that carries the caller's idempotency key, so a retried
request never debits twice; the receipt comes from a journaled step."""

from __future__ import annotations

from typing import Any

from diff_sdk import named, restate

accounts = restate.VirtualObject(named("Account"))
payments = restate.Service(named("Payments"))


@accounts.handler()
async def debit(ctx: restate.ObjectContext, amount: int) -> int:
    balance = await ctx.get("balance")
    balance = 100 if balance is None else balance
    if amount > balance:
        raise restate.TerminalError(f"insufficient funds: {balance} < {amount}", status_code=402)
    ctx.set("balance", balance - amount)
    return balance - amount


@accounts.handler(kind="shared")
async def balance(ctx: restate.ObjectSharedContext) -> int:
    value = await ctx.get("balance")
    return 100 if value is None else value


@payments.handler()
async def charge(ctx: restate.Context, req: dict[str, Any]) -> dict[str, Any]:
    remaining = await ctx.object_call(
        debit, key=req["account"], arg=req["amount"], idempotency_key=f"charge-{req['payment']}"
    )
    receipt = await ctx.run_typed("receipt", lambda: f"receipt-{req['payment']}")
    return {"receipt": receipt, "remaining": remaining}
