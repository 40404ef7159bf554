"""`POST /query`: restate's SQL over the introspection tables (reference surfaces §2.4,
tools §2b and §3).

`perdure.server.query` answers the query (DataFusion over the store's views); this module
is the HTTP side, as restate-server's: `{"query": sql}` in; `{"rows": [...]}` as arrow-json writes
it when the client accepts `application/json` (the console, perdure's CLI, Restate's UI),
an Arrow IPC stream otherwise: no Accept, `*/*` (what the `restate` CLI's HTTP client
sends by default) or `application/vnd.apache.arrow.stream`. Errors are `{"message": …}` in restate's
words: 400 for SQL that does not parse or a limit perdure sets, 500 for DataFusion's
planning and execution errors, 429 when too many queries run at once.
"""

from __future__ import annotations

from perdure.server.admin.errors import AdminError, json_object
from perdure.server.http import Request, Response, json_response
from perdure.server.query import ARROW_STREAM, QueryEngine, arrow_stream, json_rows
from perdure.server.query.engine import QueryFailed
from perdure.store.api import QueryBusy, QueryError


def wants_json(accept: str | None) -> bool:
    """restate-server answers JSON only to a client that accepts it; Arrow to any other."""
    if accept is None:
        return False
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return "application/json" in types


async def handle_query(engine: QueryEngine, request: Request) -> Response:
    if request.method != "POST":
        raise AdminError(405, f"method {request.method} not allowed on /query")
    body = await json_object(request)
    sql = body.get("query")
    if not isinstance(sql, str):
        raise AdminError(400, "expected a JSON object with a string field 'query'")
    try:
        table = await engine.query(sql)
    except QueryBusy as exc:
        raise AdminError(429, str(exc)) from None
    except QueryFailed as exc:
        raise AdminError(exc.status, f"Datafusion error: {exc}") from None
    except QueryError as exc:
        raise AdminError(400, str(exc)) from None
    if wants_json(request.header("accept")):
        return json_response(200, {"rows": json_rows(table)})
    return Response(200, arrow_stream(table), (("content-type", ARROW_STREAM),))
