"""In-memory waiters for invocation results (ingress calls and attaches).

A waiter is registered *before* the command that may complete the invocation is
submitted, and is resolved by the `InvocationEnded` effect, i.e. after the commit.
Waiters do not survive a restart; the result does (it is stored), so a client that
retries with its idempotency key gets it from the store.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from perdure.server.engine.commands import InvocationEnded


class ResultWaiters:
    def __init__(self) -> None:
        self._waiting: defaultdict[str, list[asyncio.Future[InvocationEnded]]] = defaultdict(list)

    def register(self, invocation_id: str) -> asyncio.Future[InvocationEnded]:
        future: asyncio.Future[InvocationEnded] = asyncio.get_running_loop().create_future()
        self._waiting[invocation_id].append(future)
        return future

    def waiting(self) -> list[str]:
        """The invocation ids someone waits on."""
        return list(self._waiting)

    def is_waiting(self, invocation_id: str) -> bool:
        return bool(self._waiting.get(invocation_id))

    def discard(self, invocation_id: str, future: asyncio.Future[InvocationEnded]) -> None:
        futures = self._waiting.get(invocation_id)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[invocation_id]

    def resolve(self, ended: InvocationEnded) -> None:
        for future in self._waiting.pop(ended.invocation_id, []):
            if not future.done():
                future.set_result(ended)
