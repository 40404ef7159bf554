"""Output helpers shared by the admin commands: `--json`, fixed-width tables, field lists.

Tables are plain text with columns padded to their widest cell, so they read well in a
terminal and need no dependency; `--json` prints the data instead, for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# A free-text cell (a failure message, a URL) longer than this is cut, so one long value
# does not push every other column off the screen; `--json` always has the full value.
MAX_CELL = 60


def json_option(function: F) -> F:
    """Add `--json` (the flag's value arrives as the `as_json` argument)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        default=False,
        help="Print JSON instead of a table, for scripts.",
    )(function)


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))


def cell(value: object, *, limit: int | None = MAX_CELL) -> str:
    """The text of one table cell: empty for null, `yes`/`no` for booleans, cut at `limit`."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    text = " ".join(text.split())  # a table row is one line
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart, headers in capitals."""
    body = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = [[h.upper() for h in headers], *body]
    return "\n".join(
        "  ".join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in lines
    )


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str) -> None:
    """Print a table, or `empty` when there are no rows (a bare header line says nothing)."""
    materialised = list(rows)
    if not materialised:
        click.echo(empty)
        return
    click.echo(format_table(headers, materialised))


def echo_fields(fields: Iterable[tuple[str, object]]) -> None:
    """`Name: value` lines aligned on the colon; fields whose value is null are left out."""
    present = [(name, value) for name, value in fields if value is not None and value != ""]
    if not present:
        return
    width = max(len(name) for name, _ in present) + 1
    for name, value in present:
        click.echo(f"{(name + ':').ljust(width)}  {cell(value, limit=None)}")


def format_time(value: object) -> str | None:
    """A timestamp as `YYYY-MM-DD HH:MM:SS UTC`.

    The admin API (perdure's and restate's) and `/query` give RFC 3339 text; a number is
    ms since the epoch. Anything unrecognised is shown as is.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000.0, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:  # the Arrow JSON writer prints UTC without an offset
            moment = moment.replace(tzinfo=UTC)
    else:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
