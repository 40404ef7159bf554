"""A state machine in a virtual object (Restate's "state machine" pattern): a door that is
open, closed or locked; an event that does not apply in the current state is refused with
a terminal 409 and changes nothing."""

from __future__ import annotations

from diff_sdk import named, restate

door = restate.VirtualObject(named("Door"))

TRANSITIONS = {
    ("open", "close"): "closed",
    ("closed", "open"): "open",
    ("closed", "lock"): "locked",
    ("locked", "unlock"): "closed",
}


@door.handler()
async def act(ctx: restate.ObjectContext, event: str) -> str:
    state = await ctx.get("state") or "closed"
    after = TRANSITIONS.get((state, event))
    if after is None:
        raise restate.TerminalError(f"cannot {event} a door that is {state}", status_code=409)
    ctx.set("state", after)
    history = await ctx.get("history") or []
    ctx.set("history", [*history, f"{state}->{after}"])
    return after


@door.handler(kind="shared")
async def state(ctx: restate.ObjectSharedContext) -> dict[str, object]:
    return {"state": await ctx.get("state") or "closed", "history": await ctx.get("history") or []}
