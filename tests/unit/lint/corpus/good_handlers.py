"""Deterministic handlers: nothing here may be reported."""

from __future__ import annotations

import functools
import os
import random
import time
import uuid
from datetime import datetime
from pathlib import Path

import perdure
from perdure import RunOptions

STARTED = time.time()  # module level: runs once at import, not per attempt
REGION = os.environ.get("REGION", "eu")
KNOWN = ["a", "b"]
COUNTS: dict[str, int] = {}


def read_config(path: str) -> str:
    """A module-level function: checked only as a ctx.run action, which it is below."""
    return Path(path).read_text() + os.environ["HOME"] + str(time.time())


async def fetch(url: str) -> str:
    return url + str(random.random())


good = perdure.Service("Good")


@good.handler()
async def journaled(ctx: perdure.Context, names: list[str]) -> list[object]:
    now = await ctx.time()
    rng = ctx.random()
    roll = rng.randint(1, 6)
    secret = ctx.uuid()
    stamp = await ctx.run_typed("stamp", lambda: time.time())
    stamp2 = await ctx.run("stamp2", lambda: datetime.now().isoformat())
    stamp3 = await ctx.run("stamp3", action=lambda: uuid.uuid4().hex)
    stamp4 = await ctx.run("stamp4", time.time)

    def load() -> str:
        with open("/etc/hostname") as f:
            return f.read() + os.environ.get("X", "") + str(random.random())

    config = await ctx.run_typed("load", load)
    config += await ctx.run_typed("config", read_config, RunOptions(), "/etc/app.toml")
    config += await ctx.run_typed("fetch", fetch, RunOptions(), "https://example.com")
    config += await ctx.run("partial", functools.partial(read_config, "/etc/other.toml"))

    async def post() -> int:
        for tag in {"x", "y"}:
            COUNTS[tag] = 1
        return len(COUNTS)

    posted = await ctx.run_typed("post", post)
    step = lambda: random.choice(KNOWN)  # noqa: E731
    chosen = await ctx.run_typed("choose", step)
    return [now, roll, secret, stamp, stamp2, stamp3, stamp4, config, posted, chosen]


@good.handler()
async def ordinary(ctx: perdure.Context, names: list[str]) -> list[str]:
    random = ctx.random()  # shadows the module: this is the deterministic one
    picked = random.choice(names)
    seen = set(names)
    seen = sorted(seen)  # rebound to a list: iterating it is fine
    result = [n for n in seen]
    for name in sorted(set(names)):
        result.append(name)
    for name in KNOWN:
        result.append(name)
    local = {"a": 1}
    local["b"] = 2
    result.append(str(COUNTS.get("a")))
    result.append(f"time.time() in a string {REGION} {STARTED}")
    return [*result, picked]


@good.handler()
async def allowed(ctx: perdure.Context) -> float:
    return time.time()  # perdure: allow[PD101]


def not_a_handler() -> float:
    return time.time() + random.random()


plain = perdure.Service("Plain")


@plain.handler()
async def sync_run(ctx: perdure.Context) -> str:
    return await ctx.run("x", lambda: str(uuid.uuid1()) + open("f").read())
