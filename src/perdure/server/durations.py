"""Durations as Restate writes them: friendly (`500ms`, `1h 30m`), ISO-8601 (`PT1S`), or ms.

A bare integer is milliseconds (the official Python client sends `?delay=5000`). Years and
months are rejected because their length is not fixed.
"""

from __future__ import annotations

import re

from perdure.server.errors import ServerError

_UNITS_MS = {
    "ms": 1,
    "msec": 1,
    "millis": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "s": 1000,
    "sec": 1000,
    "secs": 1000,
    "second": 1000,
    "seconds": 1000,
    "m": 60_000,
    "min": 60_000,
    "mins": 60_000,
    "minute": 60_000,
    "minutes": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hrs": 3_600_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "days": 86_400_000,
    "w": 7 * 86_400_000,
    "week": 7 * 86_400_000,
    "weeks": 7 * 86_400_000,
}
_FRIENDLY_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*,?")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


class DurationError(ServerError, ValueError):
    """Text that is not a duration."""


def parse_duration_ms(text: str) -> int:
    """Parse a duration into whole milliseconds; raise `DurationError` otherwise."""
    raw = text.strip()
    if not raw:
        raise DurationError("empty duration")
    if raw.isdigit():
        return int(raw)
    if raw[0] in "pP":
        match = _ISO.match(raw)
        if not match or raw.upper() in ("P", "PT") or raw.upper().endswith("T"):
            raise DurationError(f"{text!r} is not an ISO-8601 duration (years/months not allowed)")
        parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
        total = (
            parts.get("w", 0) * 7 * 86_400_000
            + parts.get("d", 0) * 86_400_000
            + parts.get("h", 0) * 3_600_000
            + parts.get("m", 0) * 60_000
            + parts.get("s", 0) * 1000
        )
        return round(total)
    total = 0.0
    pos = 0
    while pos < len(raw):
        match = _FRIENDLY_PART.match(raw, pos)
        if not match:
            raise DurationError(f"{text!r} is not a duration")
        unit = _UNITS_MS.get(match.group(2).lower())
        if unit is None:
            raise DurationError(f"{text!r}: unknown unit {match.group(2)!r}")
        total += float(match.group(1)) * unit
        pos = match.end()
    return round(total)


def format_duration_ms(ms: int) -> str:
    """Compact friendly form, as the admin API prints it (`1d`, `1m`, `500ms`)."""
    if ms == 0:
        return "0s"
    out: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        out.append(f"{ms}ms")
    return " ".join(out)
