"""Wrong uses: mypy --strict must report exactly the errors given in the expect comments."""

from __future__ import annotations

from datetime import timedelta

from definitions import Counter, Greeter, Point, SignUp, swap

from perdure.client import Client


async def wrong(client: Client) -> None:
    await client.service(Greeter).greet(1)  # expect: has incompatible type "int"; expected "str"
    await client.service(Greeter).greet()  # expect: Too few arguments for "__call__"
    await client.service(Greeter).ping("x")  # expect: Too many positional arguments
    await client.object(Counter, "k").add("one")  # expect: incompatible type "str"; expected "int"
    n: int = await client.service(Greeter).greet("Ann")  # expect: Incompatible types in assignment
    await client.service(Greeter).greet.send("Ann", delay=5)  # expect: "int"; expected "timedelta
    await client.workflow(SignUp, "k").submit(42)  # expect: Argument 1 to "submit"
    await client.workflow(SignUp, "k").approve(1)  # expect: incompatible type "int"; expected "str"
    client.object(Greeter, "k")  # expect: Value of type variable "VO"
    client.service(Counter)  # expect: Value of type variable "S"
    await client.call(swap, Point(1, 2), 3)  # expect: Argument 1 to "call" of "Client"
    await client.call(swap, "p")  # expect: Argument 1 to "call" of "Client"
    flag: str = await client.workflow(SignUp, "k").attach()  # expect: Incompatible types
    await client.service(Greeter).greet("Ann", delay=timedelta(1))  # expect: Unexpected keyword
    del n, flag
