"""The SDK re-exported by a shim module (as tests/interop/services/interop_sdk.py does)."""

from __future__ import annotations

import time

from sdk_shim import restate

shimmed = restate.Service("Shimmed")


@shimmed.handler()
async def unannotated(ctx):  # no annotation: found through the definition alone
    return time.time()  # expect: PD101
