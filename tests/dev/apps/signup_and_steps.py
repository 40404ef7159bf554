"""The sign-up example plus a service whose durable step blocks until the test lets it go.

Served by `perdure dev` in tests/dev. Needs examples/ on PYTHONPATH (for `signup` and
`fake_world`) and PERDURE_EXAMPLES_DIR (where the side effects are counted).
"""

from __future__ import annotations

import asyncio
import time

import fake_world
from signup import SignUp

import perdure

steps = perdure.Service("Steps")


@steps.handler()
async def run(ctx: perdure.Context, name: str) -> str:
    """A finished step, then one that waits for the file `<name>.release` to appear."""

    def before() -> str:
        fake_world.record("steps", name, op="before")
        return "done"

    async def blocking() -> str:
        fake_world.record("steps", name, op="blocking-started")
        release = fake_world.world_dir() / f"{name}.release"
        # Polled: the test (another process) creates the file when it wants.
        while not release.exists():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return "released"

    first = await ctx.run("before", before)
    second = await ctx.run("blocking", blocking)
    return f"{first}+{second}"


@steps.handler()
async def run_sync(ctx: perdure.Context, name: str) -> str:
    """The same with a synchronous blocking step (it runs in a thread, which cannot be
    cancelled: stopping must not wait for it)."""

    def before() -> str:
        fake_world.record("steps", name, op="before")
        return "done"

    def blocking() -> str:
        fake_world.record("steps", name, op="blocking-started")
        release = fake_world.world_dir() / f"{name}.release"
        while not release.exists():
            time.sleep(0.05)
        return "released"

    first = await ctx.run("before", before)
    second = await ctx.run("blocking", blocking)
    return f"{first}+{second}"


app = perdure.app(services=[SignUp.definition, steps])
