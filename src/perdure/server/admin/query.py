"""`POST /query`: read-only SQL over the introspection views (reference surfaces §2.4).

The store answers the query (`Store.query`, its own read-only capability); this module is
only the HTTP side: JSON answers (`{"rows": [...]}`, null columns omitted and blobs as
hex, as restate's Arrow JSON writer prints them), 400 for a refused or failed query, 429
when too many run at once. Arrow IPC, restate's answer for other Accept values, is not
produced: such requests get 406.
"""

from __future__ import annotations

from perdure.server.admin.errors import AdminError, json_object
from perdure.server.http import Request, Response, json_response
from perdure.store.api import QueryBusy, QueryError, QueryResult, Store


def _cell(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()  # restate's Arrow JSON writer prints binary as hex
    if isinstance(value, float) and value != value:
        return None
    return value


def json_rows(result: QueryResult) -> list[dict[str, object]]:
    """Rows as restate's Arrow JSON writer prints them: nulls omitted, blobs as hex."""
    return [
        {
            name: _cell(value)
            for name, value in zip(result.columns, row, strict=True)
            if value is not None
        }
        for row in result.rows
    ]


def _wants_json(accept: str | None) -> bool:
    if accept is None:
        return True
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"application/json", "*/*", "application/*", ""})


async def handle_query(store: Store, request: Request) -> Response:
    if request.method != "POST":
        raise AdminError(405, f"method {request.method} not allowed on /query")
    if not _wants_json(request.header("accept")):
        raise AdminError(
            406, "perdure answers queries as JSON only: send 'Accept: application/json'"
        )
    body = await json_object(request)
    sql = body.get("query")
    if not isinstance(sql, str):
        raise AdminError(400, "expected a JSON object with a string field 'query'")
    try:
        result = await store.query(sql)
    except QueryBusy as exc:
        raise AdminError(429, str(exc)) from None
    except QueryError as exc:
        raise AdminError(400, str(exc)) from None
    return json_response(200, {"rows": json_rows(result)})
