"""The admin API's error body: `{"message": …, "restate_code": "META…" | null}`."""

from __future__ import annotations

from perdure.server.engine import Conflict, EngineError, InvalidRequest, NotFound, NotStarted
from perdure.server.errors import ServerError
from perdure.server.http import BodyTooLarge, Request, Response, json_response


class AdminError(ServerError):
    """Raised by a route to answer with an admin error body."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    @property
    def response(self) -> Response:
        return admin_error(self.status, self.message, self.code)


def admin_error(status: int, message: str, code: str | None = None) -> Response:
    return json_response(status, {"message": message, "restate_code": code})


def engine_status(error: EngineError) -> int:
    """The HTTP status the admin API answers an engine refusal with."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, NotStarted):
        return 425
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, InvalidRequest):
        return 400
    return 500


BODY_LIMIT = 1024 * 1024


async def json_object(request: Request) -> dict[str, object]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    try:
        data = await request.json(BODY_LIMIT)
    except BodyTooLarge:
        raise AdminError(413, f"the request body is larger than {BODY_LIMIT} bytes") from None
    except (ValueError, RecursionError) as exc:
        raise AdminError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminError(400, "the request body must be a JSON object")
    return data
