"""Served by `perdure dev` in tests/unit/cli/test_invocation_batches.py: invocations that
wait until they are cancelled or killed, one that always fails, one that ends at once."""

from __future__ import annotations

import perdure

waiter = perdure.Service("Waiter")
other = perdure.Service("Other")
flaky = perdure.Service("Flaky")


@waiter.handler()
async def wait(ctx: perdure.Context, tag: str) -> str:
    _, never = ctx.awakeable(type_hint=str)
    return await never


@other.handler(name="wait")
async def other_wait(ctx: perdure.Context, tag: str) -> str:
    _, never = ctx.awakeable(type_hint=str)
    return await never


@other.handler()
async def echo(ctx: perdure.Context, tag: str) -> str:
    return tag


@flaky.handler()
async def fail(ctx: perdure.Context, tag: str) -> None:
    raise RuntimeError(f"{tag} always fails")


app = perdure.app(services=[waiter, other, flaky])
