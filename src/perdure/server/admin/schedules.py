"""Admin routes of cron schedules (perdure's own API, no restate-server counterpart):

    GET    /schedules                    {"schedules": [Schedule…]}
    POST   /schedules                    create one (201 Schedule; 409 if the name exists)
    GET    /schedules/{name}             Schedule
    DELETE /schedules/{name}             204
    PATCH  /schedules/{name}/pause       Schedule (no ticks until resumed)
    PATCH  /schedules/{name}/resume      Schedule (goes on from now; paused ticks are not run)
    POST   /schedules/{name}/trigger     {"invocation_id"}: one run now, besides the ticks
    POST   /schedules/{name}/backfill    {"from", "to"} -> {"invocation_ids"}: every tick in
                                         the range that did not run yet

Create body: {"name", "cron", "target": "Service/handler" (or "service" + "handler"),
"key"?, "argument"? (any JSON value: the handler's input), "timezone"? (IANA, default
UTC), "overlap"? (skip | buffer_one | allow), "catch_up"? (skip | all | latest)}.
Times in bodies: RFC 3339 text or ms since the epoch.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, cast

from perdure.server.admin.errors import AdminError, admin_error, engine_status, json_object
from perdure.server.engine import (
    BackfillSchedule,
    ControlSchedule,
    CreateSchedule,
    EngineError,
    ScheduleSpec,
    Submit,
)
from perdure.server.http import Request, Response, json_response
from perdure.store.api import ScheduleRow, Store

_OPERATIONS = {"pause": "PATCH", "resume": "PATCH", "trigger": "POST"}


async def route(request: Request, parts: list[str], store: Store, submit: Submit) -> Response:
    """`parts`: the path after `/schedules`."""
    method = request.method
    try:
        if not parts:
            if method == "GET":
                rows = await store.read(lambda txn: txn.list_schedules())
                return json_response(200, {"schedules": [schedule_json(r) for r in rows]})
            if method == "POST":
                row = await submit(CreateSchedule(spec_from_body(await json_object(request))))
                return json_response(201, schedule_json(row))
            return admin_error(405, f"method {method} not allowed")
        name = parts[0]
        if len(parts) == 1:
            if method == "GET":
                found = await store.read(lambda txn: txn.get_schedule(name))
                if found is None:
                    return admin_error(404, f"schedule '{name}' not found")
                return json_response(200, schedule_json(found))
            if method == "DELETE":
                await submit(ControlSchedule("delete", name))
                return Response(204)
            return admin_error(405, f"method {method} not allowed")
        operation = parts[1]
        if len(parts) == 2 and operation in _OPERATIONS:
            if method != _OPERATIONS[operation]:
                return admin_error(405, f"method {method} not allowed")
            reply = await submit(ControlSchedule(operation, name))  # type: ignore[arg-type]
            if isinstance(reply, str):
                return json_response(200, {"invocation_id": reply})
            return json_response(200, schedule_json(cast(ScheduleRow, reply)))
        if len(parts) == 2 and operation == "backfill":
            if method != "POST":
                return admin_error(405, f"method {method} not allowed")
            body = await json_object(request)
            command = BackfillSchedule(
                name, _time(body.get("from"), "from"), _time(body.get("to"), "to")
            )
            return json_response(200, {"invocation_ids": await submit(command)})
    except EngineError as exc:
        return admin_error(engine_status(exc), exc.message)
    return admin_error(404, f"not found: {request.path}")


def spec_from_body(body: dict[str, object]) -> ScheduleSpec:
    name, cron = body.get("name"), body.get("cron")
    if not isinstance(name, str) or not isinstance(cron, str):
        raise AdminError(400, "a schedule needs a 'name' and a 'cron' expression")
    service, handler = body.get("service"), body.get("handler")
    target = body.get("target")
    if isinstance(target, str):
        service, _, handler = target.partition("/")
    if not isinstance(service, str) or not isinstance(handler, str) or not service or not handler:
        raise AdminError(400, "a schedule needs a 'target' (\"Service/handler\")")
    key = body.get("key")
    if key is not None and not isinstance(key, str):
        raise AdminError(400, "'key' must be a string")
    argument = b"" if "argument" not in body else json.dumps(body["argument"]).encode()
    options: dict[str, Any] = {}
    for field in ("timezone", "overlap", "catch_up"):
        value = body.get(field)
        if value is not None:
            if not isinstance(value, str):
                raise AdminError(400, f"'{field}' must be a string")
            options[field] = value
    return ScheduleSpec(name, cron, service, handler, key, argument, **options)


def _time(value: object, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return round(moment.timestamp() * 1000)
    raise AdminError(400, f"'{what}' must be an RFC 3339 time or ms since the epoch")


def _rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def schedule_json(row: ScheduleRow) -> dict[str, object]:
    try:
        argument: object = json.loads(row.argument) if row.argument else None
    except ValueError:
        argument = None
    key_part = "" if row.key is None else f"{row.key}/"
    return {
        "name": row.name,
        "cron": row.cron,
        "timezone": row.timezone,
        "target": f"{row.service}/{key_part}{row.handler}",
        "service": row.service,
        "handler": row.handler,
        "key": row.key,
        "argument": argument,
        "overlap": row.overlap,
        "catch_up": row.catch_up,
        "source": row.source,
        "paused": row.paused,
        "next_fire_at": _rfc3339(row.next_fire_at),
        "last_fire_at": _rfc3339(row.last_fire_at),
        "last_invocation_id": row.last_invocation_id,
        "buffered_tick": _rfc3339(row.buffered_tick),
        "fired": row.fired,
        "skipped": row.skipped,
        "created_at": _rfc3339(row.created_at),
    }
