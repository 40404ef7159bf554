"""Correct uses of the client: mypy --strict must accept this file as it is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from definitions import Counter, Greeter, Point, SignUp, echo, swap

from perdure.client import (
    Client,
    InvocationHandle,
    Output,
    SendHandle,
    ServiceProxy,
    WorkflowProxy,
    connect,
)


async def uses(client: Client) -> None:
    assert_type(await client.service(Greeter).greet("Ann"), str)
    assert_type(await client.service(Greeter).greet("Ann", idempotency_key="k"), str)
    assert_type(await client.service(Greeter).ping(), None)
    assert_type(await client.object(Counter, "k").add(1, headers={"x-a": "b"}), int)
    assert_type(await client.object(Counter, "k").get(), int)

    sent = await client.service(Greeter).greet.send(
        "Ann", delay=timedelta(seconds=5), idempotency_key="k"
    )
    assert_type(sent, SendHandle[str])
    assert_type(sent.invocation_id, str)
    assert_type(await sent.attach(), str)
    assert_type(await sent.output(), Output[str])

    signup = client.workflow(SignUp, "user-1")
    assert_type(await signup.submit("ann@example.com"), SendHandle[bool])
    assert_type(await signup.attach(), bool)
    assert_type((await signup.output()).value, bool)
    assert_type(await signup.approve("secret"), None)
    assert_type(await signup.run("ann@example.com"), bool)

    assert_type(await client.call(swap, Point(1, 2)), Point)
    assert_type(await client.call(Counter.add, 1, key="k"), int)
    assert_type(await client.send(Greeter.greet, "Ann"), SendHandle[str])
    assert_type(client.invocation("inv_1x", Greeter.greet), InvocationHandle[str])
    assert_type(client.invocation("inv_1x"), InvocationHandle[Any])
    assert_type(client.service(echo), ServiceProxy)
    await client.resolve_awakeable("sign_1x", {"any": "json"})
    await client.reject_awakeable("sign_1x", "reason")


async def main() -> None:
    async with connect("http://127.0.0.1:8080", headers={"authorization": "x"}) as client:
        await uses(client)


def proxies_of_restate_style(client: Client) -> WorkflowProxy:
    from definitions import SignUp as Typed

    return client.workflow(Typed.definition, "k")
