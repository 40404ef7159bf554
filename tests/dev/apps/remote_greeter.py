"""Served by `perdure serve` in tests/dev: a deployment that `perdure dev` registers remotely."""

from __future__ import annotations

import perdure

greeter = perdure.Service("RemoteGreeter")


@greeter.handler()
async def greet(ctx: perdure.Context, name: str) -> str:
    return f"hello {name}"


app = perdure.app(services=[greeter])
