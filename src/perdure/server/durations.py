"""Durations as Restate reads and writes them.

Reading follows the grammar of jiff's `Span` parser, which restate-server uses for
`?delay=`, service patches and configuration, with its error messages (so a bad delay
gets the same 400 from both servers):

- ISO 8601, `PT1.5S`, `P2W`, `-PT5S` (a sign, then `P`);
- "friendly": `500ms`, `1h 30m`, `1 hour, 2 minutes`, `1,5s`, `5s ago`, `01:30:00`;
- `0` alone.

Years and months are refused (their length is not fixed), so are negative durations. One
deliberate extension: a bare integer is milliseconds (the official Python client sends
`?delay=5000`, which restate-server refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from perdure.server.errors import ServerError

_MS: dict[str, Fraction] = {
    unit: Fraction(size)
    for unit, size in (("y", 0), ("mo", 0), ("w", 604_800_000), ("d", 86_400_000))
}
_MS.update(h=Fraction(3_600_000), m=Fraction(60_000), s=Fraction(1000), ms=Fraction(1))
_MS.update(us=Fraction(1, 1000), ns=Fraction(1, 1_000_000))
# jiff's unit designators (lower case only), longest first so `mins` wins over `m`.
_DESIGNATORS = {
    "y": ("years", "year", "yrs", "yr", "y"),
    "mo": ("months", "month", "mos", "mo"),
    "w": ("weeks", "week", "wks", "wk", "w"),
    "d": ("days", "day", "d"),
    "h": ("hours", "hour", "hrs", "hr", "h"),
    "m": ("minutes", "minute", "mins", "min", "m"),
    "s": ("seconds", "second", "secs", "sec", "s"),
    "ms": ("milliseconds", "millisecond", "msecs", "msec", "ms"),
    "us": ("microseconds", "microsecond", "usecs", "usec", "us", "µsecs", "µsec", "µs"),
    "ns": ("nanoseconds", "nanosecond", "nsecs", "nsec", "ns"),
}
_ORDERED = sorted(
    ((name, unit) for unit, names in _DESIGNATORS.items() for name in names),
    key=lambda pair: -len(pair[0]),
)
# re.ASCII: jiff reads ASCII digits only, so "٣s" is refused, not 3 s.
_NUMBER = re.compile(r"(\d+)(?:[.,](\d+))?", re.ASCII)
_SEPARATOR = re.compile(r",?\s*", re.ASCII)
_HMS = re.compile(r"(\d+):(\d\d):(\d\d)(?:[.,](\d+))?", re.ASCII)
_FRIENDLY = 'failed to parse input in the "friendly" duration format: '
_MAX_I64 = (1 << 63) - 1


class DurationError(ServerError, ValueError):
    """Text that is not a duration; the message is jiff's (or restate's) reason."""


@dataclass
class _Span:
    negative: bool = False
    units: dict[str, Fraction] = field(default_factory=dict)

    def ms(self) -> Fraction:
        return sum((v * _MS[u] for u, v in self.units.items()), Fraction(0))

    def iso(self) -> str:
        """jiff's rendering, for its "parsed value 'PT5S'" messages."""
        units = self.units
        date = "".join(
            f"{int(units[u])}{u[0].upper()}" for u in ("y", "mo", "w", "d") if u in units
        )
        seconds = sum(units.get(u, Fraction(0)) * _MS[u] / 1000 for u in ("s", "ms", "us", "ns"))
        time = "".join(f"{int(units[u])}{u.upper()}" for u in ("h", "m") if u in units)
        if seconds:
            time += f"{float(seconds):g}S"
        body = date + (f"T{time}" if time else "")
        return ("-" if self.negative else "") + "P" + (body or "T0S")


def _integer(digits: str) -> int:
    value = int(digits)
    if value > _MAX_I64:
        raise DurationError(_FRIENDLY + "number too big to parse into 64-bit integer")
    return value


def _fraction(whole: str, frac: str | None) -> Fraction:
    value = Fraction(_integer(whole))
    return value + Fraction(int(frac), 10 ** len(frac)) if frac else value


def _friendly(text: str) -> _Span:
    span = _Span()
    pos = 0
    if text[:1] in "+-":
        span.negative, pos = text[0] == "-", 1
    hms = _HMS.fullmatch(text, pos)
    if hms:
        hours, minutes, seconds, frac = hms.groups()
        span.units = {"h": Fraction(int(hours)), "m": Fraction(int(minutes))}
        span.units["s"] = _fraction(seconds, frac)
        return span
    while True:
        number = _NUMBER.match(text, pos)
        if number is None:
            if not span.units:
                raise DurationError(
                    _FRIENDLY + "expected duration to start with a unit value (a decimal "
                    "integer) after an optional sign, but no integer was found"
                )
            break
        value = _fraction(number.group(1), number.group(2))
        pos = number.end()
        while text[pos : pos + 1] == " ":
            pos += 1
        found = next(((n, u) for n, u in _ORDERED if text.startswith(n, pos)), None)
        if found is None:
            raise DurationError(
                _FRIENDLY + "expected to find unit designator suffix "
                "(e.g., `years` or `secs`) after parsing integer"
            )
        designator, unit = found
        pos += len(designator)
        span.units[unit] = span.units.get(unit, Fraction(0)) + value
        after = _SEPARATOR.match(text, pos)
        if after is None or not _NUMBER.match(text, after.end()):
            break
        pos = after.end()
    rest = text[pos:]
    if rest.strip() == "ago" and not span.negative:
        span.negative, rest = True, ""
    if rest:
        raise DurationError(
            _FRIENDLY + f"parsed value '{span.iso()}', but unparsed input "
            f'"{rest.strip()}" remains (expected no unparsed input)'
        )
    return span


_ISO_UNIT = re.compile(r"(\d+)(?:[.,](\d+))?([A-Za-z])", re.ASCII)


def _iso(text: str) -> _Span:
    span = _Span()
    body = text
    if body[:1] in "+-":
        span.negative, body = body[0] == "-", body[1:]
    body = body[1:]  # the P
    date, _, time = body.partition("T") if "T" in body else body.partition("t")
    has_time = ("T" in body) or ("t" in body)
    for part, names in ((date, {"Y": "y", "M": "mo", "W": "w", "D": "d"}), (time, None)):
        pos = 0
        lookup = names or {"H": "h", "M": "m", "S": "s"}
        while pos < len(part):
            match = _ISO_UNIT.match(part, pos)
            unit = lookup.get(match.group(3).upper()) if match else None
            if match is None or unit is None:
                if names is None and pos == 0:
                    break  # `T` and no time unit after it: reported below
                raise DurationError(f"failed to parse ISO 8601 duration string: {text!r}")
            span.units[unit] = _fraction(match.group(1), match.group(2))
            pos = match.end()
    if has_time and not any(u in span.units for u in ("h", "m", "s")):
        raise DurationError(
            "found a time designator (`T` or `t`) in an ISO 8601 duration string, "
            "but did not find any time units"
        )
    if not span.units:
        raise DurationError(f"failed to parse ISO 8601 duration string: {text!r}")
    return span


def parse_duration_ms(text: str) -> int:
    """Parse a duration into whole milliseconds; raise `DurationError` otherwise."""
    if text == "":
        raise DurationError(
            "an empty string is not a valid duration in either the ISO 8601 format "
            'or Jiff\'s "friendly" format'
        )
    if text.isascii() and text.isdigit():  # not "²", which isdigit() but int() refuses
        return int(text)  # bare milliseconds (perdure extension), "0" included
    iso = text.lstrip("+-")[:1] in ("P", "p")
    span = _iso(text) if iso else _friendly(text)
    if span.units.get("y") or span.units.get("mo"):
        raise DurationError("please use units of days or smaller")
    total = span.ms()
    if span.negative and total:
        raise DurationError("negative signed durations cannot be converted to an unsigned duration")
    return int(total)


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
