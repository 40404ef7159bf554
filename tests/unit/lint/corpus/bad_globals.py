"""Writes to module globals (PD107): module state is not journaled."""

from __future__ import annotations

from collections import defaultdict

import perdure

COUNT = 0
CACHE: list[str] = []
BY_KEY: dict[str, int] = {}
SEEN = set()
TALLY = defaultdict(int)
LIMIT = 10  # only read below: fine

tracker = perdure.VirtualObject("Tracker")


@tracker.handler()
async def track(ctx: perdure.ObjectContext, item: str) -> int:
    global COUNT
    COUNT += 1  # expect: PD107
    CACHE.append(item)  # expect: PD107
    BY_KEY[item] = COUNT  # expect: PD107
    BY_KEY.update({item: 1})  # expect: PD107
    del BY_KEY[item]  # expect: PD107
    SEEN.add(item)  # expect: PD107
    TALLY[item] += 1  # expect: PD107
    local: list[str] = []
    local.append(item)  # a local list: fine
    return COUNT + len(local) + LIMIT
