"""`perdure invocations tail`: follow invocations live, polling `POST /query`.

Each poll reads the `sys_invocation` rows modified since the newest one seen (ties at that
moment are remembered, so nothing is printed twice) and prints a line for every new
invocation and every change of status, retry count or result: what was created, what
started, suspended, failed and will be retried, completed or failed for good. A change
that shows nothing new (another journal entry of a running invocation) is not printed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from perdure.cli._admin import AdminClient, admin_options
from perdure.cli._invocation_rows import STATUSES, filter_conditions, sql_literal, status_text
from perdure.cli._output import cell, format_time, json_option

_COLUMNS = (
    "id",
    "target",
    "status",
    "completion_result",
    "created_at",
    "modified_at",
    "retry_count",
    "last_failure",
    "completion_failure",
)
PAGE = 1000  # rows per poll; more changes than this in one millisecond are not followed

State = tuple[object, object, object]


def _state(row: dict[str, Any]) -> State:
    return row.get("status"), row.get("retry_count"), row.get("completion_result")


class Follower:
    """The changes of the invocations matching `conditions`, one poll at a time."""

    def __init__(self, admin: AdminClient, conditions: list[str]) -> None:
        self.admin = admin
        self.conditions = conditions
        self.since: str | None = None  # the newest modified_at seen
        self.at_since: set[str] = set()  # ids already taken at `since`
        self.states: dict[str, State] = {}  # what was printed last for running ones

    def start(self) -> None:
        """From now on: what changed before is not printed."""
        self._read()

    def poll(self) -> list[dict[str, Any]]:
        """The rows that changed since the last poll, oldest first."""
        changed = []
        for row in self._read():
            invocation_id = str(row.get("id"))
            state = _state(row)
            if self.states.get(invocation_id) == state:
                continue
            changed.append(row)
            if row.get("status") == "completed":
                self.states.pop(invocation_id, None)
            else:
                self.states[invocation_id] = state
        return changed

    def _read(self) -> list[dict[str, Any]]:
        conditions = list(self.conditions)
        if self.since is not None:
            conditions.append(f"modified_at >= {sql_literal(self.since)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self.admin.query(
            f"SELECT {', '.join(_COLUMNS)} FROM sys_invocation{where} "
            f"ORDER BY modified_at, id LIMIT {PAGE}"
        )
        fresh = []
        for row in rows:
            modified = str(row.get("modified_at"))
            invocation_id = str(row.get("id"))
            if modified == self.since and invocation_id in self.at_since:
                continue
            if modified != self.since:
                self.since, self.at_since = modified, set()
            self.at_since.add(invocation_id)
            fresh.append(row)
        return fresh


def _line(row: dict[str, Any]) -> str:
    parts = [
        format_time(row.get("modified_at")) or "",
        str(row.get("id", "")),
        str(row.get("target", "")),
        status_text(row),
    ]
    failure = row.get("completion_failure") or row.get("last_failure")
    if failure:
        parts.append(cell(failure, limit=200))
    return "  ".join(parts)


@click.command(name="tail")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only invocations in this status (repeatable).",
)
@click.option("--service", default=None, metavar="NAME", help="Only invocations of this service.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between polls.",
)
@admin_options
@json_option
def tail(
    statuses: tuple[str, ...],
    service: str | None,
    interval: float,
    admin: AdminClient,
    as_json: bool,
) -> None:
    """Follow invocations live, until Ctrl-C: a line for each new invocation and each
    change of status (a failure shows its message). --json prints each changed
    sys_invocation row as one line of JSON."""
    follower = Follower(admin, filter_conditions(statuses, service))
    try:
        follower.start()
        click.echo(f"Following invocations at {admin.url} (Ctrl-C stops).", err=True)
        while True:
            for row in follower.poll():
                click.echo(json.dumps(row, ensure_ascii=False) if as_json else _line(row))
            time.sleep(interval)
    except KeyboardInterrupt:
        return
