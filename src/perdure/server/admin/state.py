"""`POST /services/{svc}/state`: replace the whole state of one object key.

Body: `{"object_key": "k", "new_state": {"name": [byte, …]}, "version": null, "scope": null}`.

The replacement is a `ReplaceState` command of the engine, the same serial path every
invocation's state writes take, so it is ordered with them and atomic: readers see the old
state or the new one. While an exclusive invocation holds the key (it already read the
state it will write back), the replacement waits its turn in the key's inbox, as on
restate-server, and is applied when the key is free. `version` (restate's
optimistic-concurrency hash, `engine.state_version`) is checked when the change is applied:
one that does not match the state then is dropped, and the answer is 202 either way, as
restate-server answers.
"""

from __future__ import annotations

from perdure.server.admin.errors import AdminError, admin_error, engine_status, json_object
from perdure.server.engine import EngineError, ReplaceState, Submit
from perdure.server.http import Request, Response


def parse_new_state(body: dict[str, object]) -> tuple[str, dict[bytes, bytes], str | None]:
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
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise AdminError(400, "'version' must be a string (the state's current version)")
    return key, state, version


async def handle_state(submit: Submit, request: Request, service: str) -> Response:
    if request.method != "POST":
        raise AdminError(405, f"method {request.method} not allowed")
    key, state, version = parse_new_state(await json_object(request))
    try:
        await submit(ReplaceState(service, key, tuple(state.items()), version))
    except EngineError as exc:
        return admin_error(engine_status(exc), exc.message)
    return Response(202)
