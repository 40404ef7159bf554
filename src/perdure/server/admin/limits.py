"""Admin routes of flow control.

perdure's own form (one rule per id):

    GET    /limits          {"limits": [Rule + "groups": [{group, running, queued}]]}
    PUT    /limits/{id}     create or replace: {"service", "handler"?, "concurrency"?,
                            "rate"?: {"count", "period_ms", "burst"?}, "limit_by"?,
                            "priority"?, "description"?, "disabled"?} -> Rule
    DELETE /limits/{id}     204

Restate 1.7's experimental scope limits (what its CLI and UI send):

    PUT  /limits/rules              [{"pattern", "limits": {"concurrency"}, "description"?,
                                      "disabled"?, "precondition"?}] -> [RuleResponse]
    POST /limits/rules/bulk-delete  [{"pattern", "expected_version"?}] -> [pattern]

A pattern rule applies to invocations by scope and limit key (`x-perdure-scope`,
`x-perdure-limit-key`); `sys_rules` lists them as restate-server does.
"""

from __future__ import annotations

from typing import Any

from perdure.server.admin.errors import AdminError, admin_error, engine_status, json_object
from perdure.server.engine import DeleteLimitRules, EngineError, PutLimitRule, Submit
from perdure.server.http import BodyTooLarge, Request, Response, json_response
from perdure.store.api import LimitRuleRow, Store

_BODY_LIMIT = 1024 * 1024
_RESTATE_PREFIX = "rule:"


async def route(request: Request, parts: list[str], store: Store, submit: Submit) -> Response:
    """`parts`: the path after `/limits`."""
    method = request.method
    try:
        if not parts and method == "GET":
            return json_response(200, {"limits": await _listing(store)})
        if parts == ["rules"] and method == "PUT":
            return await _restate_upsert(request, submit)
        if parts == ["rules", "bulk-delete"] and method == "POST":
            return await _restate_delete(request, submit)
        if len(parts) == 1 and parts[0] != "rules":
            if method == "PUT":
                rule = _rule_from_body(parts[0], await json_object(request))
                return json_response(200, rule_json(await submit(PutLimitRule(rule))))
            if method == "DELETE":
                deleted = await submit(DeleteLimitRules((parts[0],)))
                if not deleted:
                    return admin_error(404, f"limit {parts[0]!r} not found")
                return Response(204)
        return admin_error(
            405 if len(parts) <= 2 else 404, f"{method} {request.path} is not served"
        )
    except EngineError as exc:
        return admin_error(engine_status(exc), exc.message)


async def _listing(store: Store) -> list[dict[str, object]]:
    rules = await store.read(lambda txn: txn.list_limit_rules())
    usage = await store.query(
        "SELECT rule, limit_group, running, queued FROM sys_limit WHERE limit_group IS NOT NULL"
    )
    groups: dict[str, list[dict[str, object]]] = {}
    for rule_id, group, running, queued in usage.rows:
        groups.setdefault(str(rule_id), []).append(
            {"group": group, "running": running, "queued": queued}
        )
    return [{**rule_json(r), "groups": groups.get(r.id, [])} for r in rules]


def _int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError(400, f"'{name}' must be an integer")
    return value


def _rule_from_body(rule_id: str, body: dict[str, Any]) -> LimitRuleRow:
    if rule_id.startswith(("code:", _RESTATE_PREFIX)):
        raise AdminError(400, "ids starting with 'code:' or 'rule:' are reserved")
    service, handler = body.get("service"), body.get("handler")
    if not isinstance(service, str) or (handler is not None and not isinstance(handler, str)):
        raise AdminError(400, "a limit needs a 'service' (and optionally a 'handler')")
    rate = body.get("rate") or {}
    if not isinstance(rate, dict):
        raise AdminError(400, "'rate' must be an object {count, period_ms, burst?}")
    limit_by = body.get("limit_by")
    return LimitRuleRow(
        id=rule_id,
        source="api",
        service=service,
        handler=handler,
        limit_by=limit_by if isinstance(limit_by, str) else None,
        concurrency=_int(body, "concurrency"),
        rate_count=_int(rate, "count"),
        rate_period_ms=_int(rate, "period_ms"),
        rate_burst=_int(rate, "burst"),
        priority=_int(body, "priority"),
        description=body.get("description") if isinstance(body.get("description"), str) else None,
        disabled=bool(body.get("disabled", False)),
    )


def rule_json(row: LimitRuleRow) -> dict[str, object]:
    rate = None
    if row.rate_count is not None:
        rate = {
            "count": row.rate_count,
            "period_ms": row.rate_period_ms,
            "burst": row.rate_burst or 1,
        }
    return {
        "id": row.id,
        "source": row.source,
        "service": row.service,
        "handler": row.handler,
        "pattern": row.pattern,
        "limit_by": row.limit_by,
        "concurrency": row.concurrency,
        "rate": rate,
        "priority": row.priority,
        "description": row.description,
        "disabled": row.disabled,
        "version": row.version,
    }


async def _json_list(request: Request) -> list[Any]:
    try:
        data = await request.json(_BODY_LIMIT)
    except BodyTooLarge:
        raise AdminError(413, "the request body is too large") from None
    except ValueError as exc:
        raise AdminError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise AdminError(400, "the request body must be a JSON array of objects")
    return data


async def _restate_upsert(request: Request, submit: Submit) -> Response:
    answers = []
    for item in await _json_list(request):
        pattern = item.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise AdminError(400, "every rule needs a 'pattern'")
        limits = item.get("limits") or {}
        precondition = item.get("precondition") or {"type": "none"}
        expect: str | int | None = None
        if precondition.get("type") == "does_not_exist":
            expect = "absent"
        elif precondition.get("type") not in (None, "none"):
            expect = _int(precondition, "version")
        rule = LimitRuleRow(
            id=_RESTATE_PREFIX + pattern,
            source="restate",
            pattern=pattern,
            concurrency=_int(limits, "concurrency"),
            description=item.get("description"),
            disabled=bool(item.get("disabled", False)),
        )
        answers.append(restate_rule_json(await submit(PutLimitRule(rule, expect))))
    return json_response(200, answers)


async def _restate_delete(request: Request, submit: Submit) -> Response:
    items = await _json_list(request)
    ids = tuple(_RESTATE_PREFIX + str(item.get("pattern")) for item in items)
    versions = tuple(_int(item, "expected_version") for item in items)
    deleted = await submit(DeleteLimitRules(ids, versions))
    return json_response(200, [rule_id.removeprefix(_RESTATE_PREFIX) for rule_id in deleted])


def restate_rule_json(row: LimitRuleRow) -> dict[str, object]:
    return {
        "pattern": row.pattern,
        "description": row.description,
        "disabled": row.disabled,
        "limits": {} if row.concurrency is None else {"concurrency": row.concurrency},
        "version": row.version,
        "last_modified_millis_since_epoch": row.modified_at,
    }
