"""The admin API's error body: `{"message": …, "restate_code": "META…" | null}`.

restate refuses some requests before its handlers run, in its web framework's words and
in plain text: a body that does not fit the expected type (422), a path parameter that
does not parse (400). `plain_error` and `body_type_error` answer those the same way.
"""

from __future__ import annotations

import json

from perdure.server.engine import (
    Conflict,
    EngineError,
    InvalidRequest,
    NotFound,
    NotStarted,
    Unsupported,
)
from perdure.server.errors import ServerError
from perdure.server.http import BodyTooLarge, Request, Response, json_response


class AdminError(ServerError):
    """Raised by a route to answer with an admin error body (`plain`: as plain text)."""

    def __init__(
        self, status: int, message: str, code: str | None = None, *, plain: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.plain = plain

    @property
    def response(self) -> Response:
        if self.plain:
            return plain_error(self.status, self.message)
        return admin_error(self.status, self.message, self.code)


def plain_error(status: int, message: str) -> Response:
    return Response(status, message.encode(), (("content-type", "text/plain; charset=utf-8"),))


_BAD_BODY = "Failed to deserialize the JSON body into the target type: "


def _value_end(text: str, field: str) -> tuple[int, int]:
    """Line and column (as serde counts them) just after `field`'s value in the top-level
    JSON object `text`; the end of the text if it cannot be found."""
    decoder = json.JSONDecoder()
    end = len(text)
    at = text.find("{") + 1
    try:
        while 0 < at < len(text):
            at = len(text) - len(text[at:].lstrip(" \t\r\n,"))
            key, at = decoder.raw_decode(text, at)
            at = text.index(":", at) + 1
            at = len(text) - len(text[at:].lstrip(" \t\r\n"))
            _, after = decoder.raw_decode(text, at)
            if key == field:
                end = after
                break
            at = after
    except (ValueError, IndexError):
        pass
    line = text.count("\n", 0, end) + 1
    return line, end - (text.rfind("\n", 0, end) + 1)


def body_type_error(raw: bytes, field: str, reason: str) -> AdminError:
    """restate's 422 for a body field of the wrong type or an unparsable value."""
    line, column = _value_end(raw.decode("utf-8", errors="replace"), field)
    return AdminError(
        422, f"{_BAD_BODY}{field}: {reason} at line {line} column {column}", plain=True
    )


def body_shape_error(detail: str) -> AdminError:
    """restate's 422 for a body that fits none of the shapes it accepts."""
    return AdminError(422, _BAD_BODY + detail, plain=True)


def serde_type_name(value: object) -> str:
    """How serde names a JSON value it did not expect: `string "x"`, `integer `5``."""
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return "null"


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
    if isinstance(error, Unsupported):
        return 501
    return 500


BODY_LIMIT = 1024 * 1024


async def json_object(request: Request, raw: bytes | None = None) -> dict[str, object]:
    """The request body (or `raw`, the body already read) as a JSON object, or a 400 that
    says what is wrong with it."""
    try:
        if raw is None:
            raw = await request.body(BODY_LIMIT)
        data = json.loads(raw) if raw else None
    except BodyTooLarge:
        raise AdminError(413, f"the request body is larger than {BODY_LIMIT} bytes") from None
    except (ValueError, RecursionError) as exc:
        raise AdminError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminError(400, "the request body must be a JSON object")
    return data
