"""An embedded service that calls a remote one, listed in `deployments` (tests/dev)."""

from __future__ import annotations

import json
import os

import perdure

deployments = [os.environ["DEV_TEST_REMOTE_URI"]]

relay = perdure.Service("Relay")


@relay.handler()
async def greet(ctx: perdure.Context, name: str) -> str:
    """Calls RemoteGreeter/greet (served by another process) through the server."""
    answer = await ctx.generic_call("RemoteGreeter", "greet", json.dumps(name).encode())
    return f"relayed {json.loads(answer)}"


app = perdure.app(services=[relay])
