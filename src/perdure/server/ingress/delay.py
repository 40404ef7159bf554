"""`?delay=` on sends (reference surfaces §1.2): ISO-8601 (`PT60S`), friendly units (`60s`,
`1h 30m`, `500ms`) or a bare integer of milliseconds (what the official Python client
sends). Years and months are refused (their length is not fixed), as are negative values
and delays beyond `MAX_DELAY_MS`, whose due time would not fit the store's timestamps.
Refusals carry restate's messages (`perdure.server.durations`).
"""

from __future__ import annotations

from collections.abc import Mapping

from perdure.server.durations import DurationError, parse_duration_ms
from perdure.server.ingress.errors import IngressError

# About 100 years: longer than any sensible delay, far below the int64 ms limit.
MAX_DELAY_MS = 100 * 366 * 86_400_000
_BAD_DELAY = "bad delay query parameter, must be a ISO8601 duration"


UNSUPPORTED_DELAY = (
    "cannot use the delay query parameter with calls. The delay is supported only with sends"
)


def parse_delay(query: Mapping[str, str]) -> int | None:
    """The delay in ms, or None without `?delay=`; `IngressError` (400) otherwise. Calls
    refuse a delay later (restate checks the body first): see `UNSUPPORTED_DELAY`."""
    if "delay" not in query:
        return None
    text = query["delay"]
    try:
        delay_ms = parse_duration_ms(text)
    except DurationError as exc:
        raise IngressError(400, f"{_BAD_DELAY}: {exc}") from None
    if delay_ms > MAX_DELAY_MS:
        raise IngressError(400, f"{_BAD_DELAY}: {text!r} is longer than 100 years")
    return delay_ms
