"""A trip booking saga (Restate's "sagas" example pattern): each step registers its
compensation before it runs; a terminal failure undoes the steps done, newest first, then
fails the invocation with what was undone."""

from __future__ import annotations

from typing import Any

from diff_sdk import named, restate

trips = restate.Service(named("Trip"))


@trips.handler()
async def book(ctx: restate.Context, req: dict[str, Any]) -> dict[str, Any]:
    compensations: list[str] = []
    done: list[str] = []
    try:
        for step in ("flight", "car", "hotel"):
            compensations.append(f"cancel {step}")

            def reserve(step: str = step) -> str:
                if step in req.get("fail", []):
                    raise restate.TerminalError(f"no {step} available", status_code=409)
                return f"{step}-{req['trip']}"

            done.append(await ctx.run_typed(f"reserve {step}", reserve))
    except restate.TerminalError as exc:
        undone = []
        for compensation in reversed(compensations):
            undone.append(await ctx.run_typed(compensation, lambda c=compensation: c))
        raise restate.TerminalError(
            f"{exc.message}; undone: {', '.join(undone)}", status_code=exc.status_code
        ) from exc
    return {"booked": done}
