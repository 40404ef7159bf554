"""A query's answer in the two forms restate-server gives: an Arrow IPC stream (pyarrow's
writer), or JSON rows as arrow-json writes them (what `Accept: application/json` gets).

arrow-json's rows: a null column is left out of its row, binary is hex, timestamps are
RFC 3339 (fraction only when not zero, `Z` for UTC, no offset for a naive timestamp),
durations ISO 8601 (`PT86400S`), lists are arrays.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

ARROW_STREAM = "application/vnd.apache.arrow.stream"

_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_EPOCH = datetime.datetime(1970, 1, 1)


def arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _fraction(value: int, unit: str) -> str:
    digits = _DIGITS[unit]
    if digits == 0 or value == 0:
        return ""
    text = f"{value:0{digits}d}"
    # chrono's AutoSi: milli, micro or nano digits, whichever shows the value exactly.
    for keep in (3, 6, 9):
        if keep <= digits and text[keep:].strip("0") == "":
            return "." + text[:keep]
    return "." + text


def _timestamp(unit: str, tz: str | None) -> Callable[[int], str]:
    per_second = _PER_SECOND[unit]

    def render(value: int) -> str:
        seconds, sub = divmod(value, per_second)
        moment = _EPOCH + datetime.timedelta(seconds=seconds)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(sub, unit)
        if tz is None:
            return text
        return text + ("Z" if tz in ("+00:00", "UTC", "Z") else tz)

    return render


def _duration(unit: str) -> Callable[[int], str]:
    per_second = _PER_SECOND[unit]

    def render(value: int) -> str:
        sign = "-" if value < 0 else ""
        seconds, sub = divmod(abs(value), per_second)
        return f"{sign}PT{seconds}{_fraction(sub, unit)}S"

    return render


def _values(array: pa.ChunkedArray) -> list[object]:
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        render = (
            _timestamp(kind.unit, kind.tz) if pa.types.is_timestamp(kind) else _duration(kind.unit)
        )
        raw = pc.cast(array, pa.int64()).to_pylist()
        return [None if v is None else render(v) for v in raw]
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return [None if v is None else v.isoformat() for v in array.to_pylist()]
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return [None if v is None else bytes(v).hex() for v in array.to_pylist()]
    if pa.types.is_decimal(kind):
        return [None if v is None else float(v) for v in array.to_pylist()]
    return [_plain(v) for v in array.to_pylist()]


def _plain(value: object) -> object:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration("us")(value // datetime.timedelta(microseconds=1))
    return value


def json_rows(table: pa.Table) -> list[dict[str, object]]:
    """The rows as arrow-json writes them (nulls left out)."""
    names = table.column_names
    columns = [_values(table.column(i)) for i in range(table.num_columns)]
    return (
        [
            {name: value for name, value in zip(names, row, strict=True) if value is not None}
            for row in zip(*columns, strict=True)
        ]
        if columns
        else [{} for _ in range(table.num_rows)]
    )
