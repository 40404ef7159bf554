"""The ASGI app the interop tests serve: `perdure serve interop_app.py` or hypercorn.

INTEROP_IDENTITY_KEYS (comma-separated `publickeyv1_…`) turns on request-signature checks.
"""

from __future__ import annotations

import os

from interop_async import awakeables, blocker, cancellable, resolver
from interop_basics import caller, counter, errors, marker, timers
from interop_runs import nondeterministic, runs
from interop_sdk import restate
from interop_workflow import signup

SERVICES = [
    awakeables,
    blocker,
    cancellable,
    caller,
    counter,
    errors,
    marker,
    nondeterministic,
    resolver,
    runs,
    signup,
    timers,
]

_keys = [k for k in os.environ.get("INTEROP_IDENTITY_KEYS", "").split(",") if k]

app = restate.app(services=SERVICES, identity_keys=_keys or None)
