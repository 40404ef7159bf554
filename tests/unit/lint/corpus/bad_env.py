"""Environment reads in handlers (PD104); module-level reads are fine."""

from __future__ import annotations

import os
from os import environ, getenv

from perdure import Service
from perdure.sdk.context import Context

DEFAULT_REGION = os.environ.get("REGION", "eu")  # module level: read once, fine

config = Service("Config")


@config.handler()
async def region(ctx: Context) -> str:
    region = os.environ["REGION"]  # expect: PD104
    fallback = os.environ.get("FALLBACK", DEFAULT_REGION)  # expect: PD104
    zone = os.getenv("ZONE")  # expect: PD104
    other = getenv("OTHER", "x")  # expect: PD104
    rack = environ["RACK"]  # expect: PD104
    if "DEBUG" in os.environ:  # expect: PD104
        return "debug"
    return f"{region}{fallback}{zone}{other}{rack}"
