"""Store rows as Arrow columns of restate's types.

A store's view gives plain Python values (text, int, bytes; SQLite has no boolean, time or
list type): this module turns each column into the Arrow type the catalog declares for it,
so that every store's rows read the same. Timestamps arrive as RFC 3339 text (or ms since
the epoch), durations as ISO 8601 text (`PT86400S`, or ms), lists as JSON text or lists,
booleans as 0/1. A value that cannot be read as its type becomes NULL rather than failing
the whole query: the view is perdure's own, so that would be a bug to fix there, not the
caller's problem.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Sequence

import pyarrow as pa

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def _ms_since_epoch(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return (moment - _EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, str):
        try:
            return _ms_since_epoch(datetime.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _duration_ms(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(milliseconds=1)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None or not any(match.groupdict().values()):
            return None
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        seconds = (
            parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60
        ) + parts.get("s", 0)
        return round(seconds * 1000)
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _signed(value: object) -> int | None:
    if isinstance(value, int | bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return None


def _blob(value: object) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return None


def _list(item: Callable[[object], object]) -> Callable[[object], list[object] | None]:
    def convert(value: object) -> list[object] | None:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, list | tuple):
            return None
        return [item(v) for v in value]

    return convert


def _converter(kind: pa.DataType) -> Callable[[object], object]:
    if pa.types.is_timestamp(kind):
        return _ms_since_epoch
    if pa.types.is_duration(kind):
        return _duration_ms
    if pa.types.is_large_string(kind) or pa.types.is_string(kind):
        return _text
    if pa.types.is_signed_integer(kind):
        return _signed
    if pa.types.is_integer(kind):
        return _integer
    if pa.types.is_boolean(kind):
        return _boolean
    if pa.types.is_large_binary(kind) or pa.types.is_binary(kind):
        return _blob
    if pa.types.is_list(kind):
        return _list(_converter(kind.value_type))
    raise TypeError(f"no conversion to {kind}")


def column(values: Sequence[object], kind: pa.DataType) -> pa.Array:
    """The values as an Arrow array of `kind` (unreadable values become NULL)."""
    convert = _converter(kind)
    converted = [None if v is None else convert(v) for v in values]
    if pa.types.is_integer(kind):
        bits = kind.bit_width
        limit = 1 << bits
        converted = [v if v is None or int(v) < limit else None for v in converted]  # type: ignore[call-overload]
    return pa.array(converted, type=kind)


def nulls(count: int, kind: pa.DataType) -> pa.Array:
    return pa.nulls(count, type=kind)
