"""Iteration over sets (PD106): their order depends on salted string hashes."""

from __future__ import annotations

import perdure

REGIONS = frozenset({"eu", "us", "ap"})

fanout = perdure.Service("Fanout")


@fanout.handler()
async def notify(ctx: perdure.Context, names: list[str], tags: set[str]) -> list[str]:
    sent = []
    for name in set(names):  # expect: PD106
        sent.append(name)
    for colour in {"red", "green"}:  # expect: PD106
        sent.append(colour)
    for upper in {n.upper() for n in names}:  # expect: PD106
        sent.append(upper)
    unique = set(names)
    for name in unique:  # expect: PD106
        sent.append(name)
    for tag in tags:  # expect: PD106
        sent.append(tag)
    for region in REGIONS:  # expect: PD106
        sent.append(region)
    sent += [n for n in unique | {"admin"}]  # expect: PD106
    sent += [n for n in unique.union(tags)]  # expect: PD106
    sent += list(n for n in unique)  # expect: PD106
    sent += list({n: 1 for n in tags})  # expect: PD106
    # The order cannot leak out of these: fine.
    lowered = {n.lower() for n in unique}
    if any(n == "root" for n in lowered) or len(set(n for n in tags)) > 3:
        sent += sorted(n for n in lowered)
    for name in sorted(unique):  # sorted: a fixed order, fine
        sent.append(name)
    return sent
