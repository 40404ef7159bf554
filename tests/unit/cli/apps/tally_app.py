"""Served by `perdure dev` in tests/unit/cli/test_state_and_sql.py: a virtual object with state."""

from __future__ import annotations

import perdure

tally = perdure.VirtualObject("Tally")


@tally.handler()
async def add(ctx: perdure.ObjectContext, delta: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", value)
    return value


app = perdure.app(services=[tally])
