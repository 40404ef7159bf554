"""Unseeded randomness (PD102) and random UUIDs (PD103), on a virtual object."""

from __future__ import annotations

import os
import random
import secrets
import uuid
from random import randint
from uuid import uuid4 as new_id

import restate

dice = restate.VirtualObject("Dice")


@dice.handler()
async def roll(ctx: restate.ObjectContext) -> int:
    value = random.randint(1, 6)  # expect: PD102
    value += randint(1, 6)  # expect: PD102
    value += int(random.random() * 6)  # expect: PD102
    random.shuffle(faces := [1, 2, 3])  # expect: PD102
    generator = random.Random()  # expect: PD102
    seeded = random.Random(42)  # a seed makes it deterministic: fine
    return value + generator.randint(1, 6) + seeded.randint(1, 6) + faces[0]


@dice.handler(kind="shared")
async def token(ctx: restate.ObjectSharedContext) -> str:
    secret = secrets.token_hex(16)  # expect: PD102
    salt = os.urandom(8)  # expect: PD102
    return f"{secret}{salt.hex()}"


@dice.handler(kind="shared")
async def ids(ctx: restate.ObjectSharedContext) -> list[str]:
    first = uuid.uuid4()  # expect: PD103
    second = uuid.uuid1()  # expect: PD103
    third = new_id()  # expect: PD103
    named = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com")  # deterministic: fine
    return [str(first), str(second), str(third), str(named)]
