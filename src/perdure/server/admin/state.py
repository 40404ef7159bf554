"""`POST /services/{svc}/state`: replace the whole state of one object key.

Body: `{"object_key": "k", "new_state": {"name": [byte, …]}, "version": null, "scope": null}`.

The replacement runs as one job on the store's single writer, the same serial path every
invocation's state writes take, so it is ordered with them and atomic: readers see the old
state or the new one. It is refused (409) while an exclusive invocation holds the key's
lock: that invocation already read the state it will write back, and applying the
mutation under it would be silently lost (restate queues the mutation in the key's inbox
instead; perdure asks the operator to retry). `version` (restate's optimistic-concurrency
hash) is accepted and not checked.
"""

from __future__ import annotations

from functools import partial

from perdure.server.admin.errors import AdminError, json_object
from perdure.server.http import Request, Response
from perdure.store.api import Store, WriteTxn


def parse_new_state(body: dict[str, object]) -> tuple[str, dict[bytes, bytes]]:
    key = body.get("object_key")
    if not isinstance(key, str):
        raise AdminError(400, "'object_key' must be a string")
    if body.get("scope") is not None:
        raise AdminError(400, "scoped state requires vqueues to be enabled")
    raw = body.get("new_state")
    if not isinstance(raw, dict):
        raise AdminError(400, "'new_state' must be an object mapping state keys to byte arrays")
    state: dict[bytes, bytes] = {}
    for name, value in raw.items():
        if not isinstance(value, list) or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value
        ):
            raise AdminError(400, f"state value of {name!r} must be an array of bytes (0..255)")
        state[name.encode()] = bytes(value)
    return key, state


def _replace_state(service: str, key: str, state: dict[bytes, bytes], txn: WriteTxn) -> None:
    row = txn.get_service(service)
    if row is None:
        raise AdminError(404, f"service '{service}' not found")
    if row.ty == "SERVICE":
        raise AdminError(400, f"service '{service}' is not a virtual object or workflow")
    holder = txn.lock_holder(service, key)
    if holder is not None:
        raise AdminError(
            409,
            f"the key is locked by the running invocation {holder}; retry once it ended",
        )
    txn.clear_all_state(service, key)
    for state_key, value in state.items():
        txn.set_state(service, key, state_key, value)


async def handle_state(store: Store, request: Request, service: str) -> Response:
    if request.method != "POST":
        raise AdminError(405, f"method {request.method} not allowed")
    key, state = parse_new_state(await json_object(request))
    await store.write(partial(_replace_state, service, key, state))
    return Response(202)
