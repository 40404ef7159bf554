"""The event loop the server runs on: uvloop where it is installed (Linux, macOS), else
asyncio's own. Measured with `perdure dev` under load (bench/README.md): uvloop takes about
a fifth less CPU per invocation, the loop's own work (wake-ups, callbacks, sockets) being
a large part of it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    return uvloop.run(main)
