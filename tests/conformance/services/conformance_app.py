"""The ASGI app hypercorn serves for the conformance suite: every service, twice.

- `/…` (the root mount): no request-identity check; every server configuration registers it.
- `/signed/…`: the same services, but requests must carry a valid Restate request-identity JWT
  for the public key in $E2E_REQUEST_SIGNING (the e2e contract's variable). Only the server of
  the request-signing scenario registers this mount, with the matching private key.

The SDK routes on the path's tail (`…/discover`, `…/invoke/{service}/{handler}`), so both mounts
work under their prefix, and the JWT audience it checks is the path the server signed.
"""

from __future__ import annotations

import os
from typing import Any

import basics
import cancel_kill
import failures
import interpreter
import proxy_utils
import restate
import server_features

SIGNING_KEY_ENV = "E2E_REQUEST_SIGNING"
SIGNED_PREFIX = "/signed/"

SERVICES = [
    *basics.SERVICES,
    *proxy_utils.SERVICES,
    *failures.SERVICES,
    *cancel_kill.SERVICES,
    *interpreter.SERVICES,
    *server_features.SERVICES,
]

_plain = restate.app(SERVICES)
_public_key = os.environ.get(SIGNING_KEY_ENV)
_signed = restate.app(SERVICES, identity_keys=[_public_key]) if _public_key else None


async def _not_found(send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith(SIGNED_PREFIX):
        if _signed is None:
            await _not_found(send)
            return
        await _signed(scope, receive, send)
        return
    await _plain(scope, receive, send)
