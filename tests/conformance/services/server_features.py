"""Extra services for the server scenarios (Restate's e2e `e2e-tests`, written there in Kotlin):
idempotency retention, private services, awakeables through the ingress, journal retention and
pause/resume. Not part of the sdk-tests contract; names are ours."""

from __future__ import annotations

from datetime import timedelta

from restate import Context, ObjectContext, ObjectSharedContext, Service, VirtualObject

# Completed idempotent invocations are forgotten after this; with the cleanup interval the
# conformance servers run with (1 s) the same key executes again a few seconds later.
IDEMPOTENCY_RETENTION = timedelta(seconds=2)

retention_counter = VirtualObject("RetentionCounter", idempotency_retention=IDEMPOTENCY_RETENTION)


@retention_counter.handler(name="add")
async def retention_add(ctx: ObjectContext, value: int) -> dict[str, int]:
    old = await ctx.get("counter", type_hint=int) or 0
    ctx.set("counter", old + value)
    return {"oldValue": old, "newValue": old + value}


@retention_counter.handler(name="get", kind="shared")
async def retention_get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("counter", type_hint=int) or 0


private_greeter = Service("PrivateGreeter", ingress_private=True)


@private_greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


ingress_awakeable = VirtualObject("IngressAwakeable")


@ingress_awakeable.handler(name="run")
async def awakeable_run(ctx: ObjectContext) -> str:
    awakeable_id, awakeable = ctx.awakeable(type_hint=str)
    ctx.set("awk", awakeable_id)
    return await awakeable


@ingress_awakeable.handler(name="getAwakeable", kind="shared")
async def get_awakeable(ctx: ObjectSharedContext) -> str:
    return await ctx.get("awk", type_hint=str) or ""


journal_retained = Service("JournalRetained", journal_retention=timedelta(days=1))


@journal_retained.handler(name="greet")
async def retained_greet(ctx: Context, name: str) -> str:
    await ctx.sleep(timedelta(milliseconds=100))
    return name


fail_on_demand = Service("FailOnDemand")

# Inputs whose echo may succeed; everything else fails with a retryable error. In-process state:
# the harness runs one worker.
_released: set[str] = set()


@fail_on_demand.handler()
async def release(ctx: Context, token: str) -> None:
    _released.add(token)


@fail_on_demand.handler(name="echo")
async def fail_echo(ctx: Context, token: str) -> str:
    if token not in _released:
        raise ValueError(f"{token} is not released yet")  # retryable
    return token


SERVICES = [retention_counter, private_greeter, ingress_awakeable, journal_retained, fail_on_demand]
