"""Class-based service definitions whose handlers the ingress client types statically.

A perdure extension (restate-sdk has no equivalent)::

    from perdure.typed import TypedService, handler

    class Greeter(TypedService):
        @handler()
        async def greet(ctx: perdure.Context, name: str) -> str: ...

    app = perdure.app(services=[Greeter.definition])
    # mypy checks: await client.service(Greeter).greet("Ann")
"""

from __future__ import annotations

from perdure.sdk.typed import HandlerRef, TypedObject, TypedService, TypedWorkflow, handler, main

__all__ = ["HandlerRef", "TypedObject", "TypedService", "TypedWorkflow", "handler", "main"]
