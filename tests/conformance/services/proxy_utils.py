"""Proxy and TestUtilsService (names and shapes follow Restate's e2e `sdk-tests` contracts)."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from restate import Context, RestateDurableCallFuture, SendHandle, Service
from restate.serde import BytesSerde

proxy = Service("Proxy")


class ProxyRequest(TypedDict, total=False):
    serviceName: str
    virtualObjectKey: str | None
    handlerName: str
    message: list[int]  # the JSON body of the proxied request, as an array of byte values
    delayMillis: int | None
    idempotencyKey: str | None


class ManyCallRequest(TypedDict):
    proxyRequest: ProxyRequest
    oneWayCall: bool
    awaitAtTheEnd: bool


def _call(ctx: Context, req: ProxyRequest) -> RestateDurableCallFuture[bytes]:
    return ctx.generic_call(
        req["serviceName"],
        req["handlerName"],
        bytes(req["message"]),
        req.get("virtualObjectKey"),
        idempotency_key=req.get("idempotencyKey"),
    )


def _send(ctx: Context, req: ProxyRequest) -> SendHandle:
    delay_ms = req.get("delayMillis")
    return ctx.generic_send(
        req["serviceName"],
        req["handlerName"],
        bytes(req["message"]),
        req.get("virtualObjectKey"),
        send_delay=timedelta(milliseconds=delay_ms) if delay_ms is not None else None,
        idempotency_key=req.get("idempotencyKey"),
    )


@proxy.handler()
async def call(ctx: Context, req: ProxyRequest) -> list[int]:
    return list(await _call(ctx, req))


@proxy.handler(name="oneWayCall")
async def one_way_call(ctx: Context, req: ProxyRequest) -> str:
    return await _send(ctx, req).invocation_id()


@proxy.handler(name="manyCalls")
async def many_calls(ctx: Context, requests: list[ManyCallRequest]) -> None:
    # Issue everything in list order (the ordering under test), awaiting calls as asked.
    deferred = []
    for req in requests:
        if req["oneWayCall"]:
            _send(ctx, req["proxyRequest"])
            continue
        future = _call(ctx, req["proxyRequest"])
        if req["awaitAtTheEnd"]:
            deferred.append(future)
        else:
            await future
    for future in deferred:
        await future


utils = Service("TestUtilsService")


@utils.handler()
async def echo(ctx: Context, value: str) -> str:
    return value


@utils.handler(name="uppercaseEcho")
async def uppercase_echo(ctx: Context, value: str) -> str:
    return value.upper()


@utils.handler(name="echoHeaders")
async def echo_headers(ctx: Context) -> dict[str, str]:
    return dict(ctx.request().headers)


@utils.handler(
    name="rawEcho",
    accept="*/*",
    content_type="application/octet-stream",
    input_serde=BytesSerde(),
    output_serde=BytesSerde(),
)
async def raw_echo(ctx: Context, value: bytes) -> bytes:
    return value


@utils.handler(name="countExecutedSideEffects")
async def count_executed_side_effects(ctx: Context, increments: int) -> int:
    # Counts the run closures executed by *this attempt*: a replayed run is not re-executed, so an
    # attempt that replays all of them (always-suspending server) returns 0.
    executed = 0

    def effect() -> None:
        nonlocal executed
        executed += 1

    for _ in range(increments):
        await ctx.run_typed("count", effect)
    return executed


@utils.handler(name="cancelInvocation")
async def cancel_invocation(ctx: Context, invocation_id: str) -> None:
    ctx.cancel_invocation(invocation_id)


SERVICES = [proxy, utils]
