"""`perdure invocations`: find invocations, read their journal, cancel, kill or purge them.

Listing and describing read the introspection tables through `POST /query`
(`sys_invocation`, `sys_journal`), choosing only columns that perdure's views and
restate-server's tables both have, so the commands work against either server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from perdure.cli._admin import AdminClient, AdminError, admin_options, path_segment
from perdure.cli._output import echo_fields, echo_json, echo_table, format_time, json_option

# `status` of sys_invocation, as restate derives it (reference surfaces §2.4).
STATUSES = (
    "pending",
    "scheduled",
    "ready",
    "running",
    "backing-off",
    "suspended",
    "paused",
    "limited",
    "completed",
)
_LIST_COLUMNS = (
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
_JOURNAL_COLUMNS = ("index", "entry_type", "name", "appended_at")


@click.group(name="invocations")
def command() -> None:
    """Inspect and manage invocations: list, describe, cancel, kill, purge."""


def sql_literal(value: str) -> str:
    """`value` as an SQL string literal (quotes doubled), safe to splice into a query."""
    return "'" + value.replace("'", "''") + "'"


def list_query(
    statuses: tuple[str, ...],
    service: str | None,
    key: str | None,
    handler: str | None,
    limit: int,
) -> str:
    conditions: list[str] = []
    if statuses:
        conditions.append(f"status IN ({', '.join(sql_literal(s) for s in statuses)})")
    if service is not None:
        conditions.append(f"target_service_name = {sql_literal(service)}")
    if key is not None:
        conditions.append(f"target_service_key = {sql_literal(key)}")
    if handler is not None:
        conditions.append(f"target_handler_name = {sql_literal(handler)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (
        f"SELECT {', '.join(_LIST_COLUMNS)} FROM sys_invocation{where} "
        f"ORDER BY created_at DESC LIMIT {limit}"
    )


def _status_text(row: dict[str, Any]) -> str:
    status = str(row.get("status", ""))
    if status == "completed" and row.get("completion_result"):
        return f"completed ({row['completion_result']})"
    if status == "backing-off" and row.get("retry_count"):
        return f"backing-off (retry {row['retry_count']})"
    return status


@command.command(name="list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only invocations in this status (repeatable).",
)
@click.option("--service", default=None, metavar="NAME", help="Only invocations of this service.")
@click.option("--key", default=None, help="Only invocations of this virtual object/workflow key.")
@click.option("--handler", default=None, metavar="NAME", help="Only invocations of this handler.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many invocations, newest first.",
)
@admin_options
@json_option
def list_invocations(
    statuses: tuple[str, ...],
    service: str | None,
    key: str | None,
    handler: str | None,
    limit: int,
    admin: AdminClient,
    as_json: bool,
) -> None:
    """List invocations, newest first (--json: the sys_invocation rows)."""
    rows = admin.query(list_query(statuses, service, key, handler, limit))
    if as_json:
        echo_json(rows)
        return
    failures = [r.get("last_failure") or r.get("completion_failure") for r in rows]
    headers = ["id", "target", "status", "created", "modified"]
    if any(failures):  # the column only when there is something to say
        headers.append("failure")
    echo_table(
        headers,
        (
            [
                r.get("id"),
                r.get("target"),
                _status_text(r),
                format_time(r.get("created_at")),
                format_time(r.get("modified_at")),
                failure,
            ][: len(headers)]
            for r, failure in zip(rows, failures, strict=True)
        ),
        empty="No invocations.",
    )


@command.command(name="describe")
@click.argument("invocation_id", metavar="ID")
@admin_options
@json_option
def describe(invocation_id: str, admin: AdminClient, as_json: bool) -> None:
    """Show one invocation: its status row and its journal entries.

    --json prints {"invocation": <sys_invocation row>, "journal": [<sys_journal rows>]}.
    """
    literal = sql_literal(invocation_id)
    found = admin.query(f"SELECT * FROM sys_invocation WHERE id = {literal}")
    if not found:
        raise AdminError(f"invocation {invocation_id} not found at {admin.url}")
    row = found[0]
    journal = admin.query(
        f"SELECT {', '.join(_JOURNAL_COLUMNS)} FROM sys_journal WHERE id = {literal} ORDER BY index"
    )
    if as_json:
        echo_json({"invocation": row, "journal": journal})
        return
    invoked_by = row.get("invoked_by")
    if invoked_by and row.get("invoked_by_target"):
        invoked_by = f"{invoked_by} {row['invoked_by_target']} ({row.get('invoked_by_id')})"
    failure = row.get("last_failure")
    if failure and row.get("last_failure_error_code") is not None:
        failure = f"[{row['last_failure_error_code']}] {failure}"
    echo_fields(
        [
            ("ID", row.get("id")),
            ("Target", row.get("target")),
            ("Status", _status_text(row)),
            ("Failure", row.get("completion_failure")),
            ("Invoked by", invoked_by),
            ("Idempotency key", row.get("idempotency_key")),
            ("Deployment", row.get("pinned_deployment_id")),
            ("Created", format_time(row.get("created_at"))),
            ("Modified", format_time(row.get("modified_at"))),
            ("Scheduled start", format_time(row.get("scheduled_start_at"))),
            ("Completed", format_time(row.get("completed_at"))),
            ("Retries", row.get("retry_count") or None),
            ("Next retry", format_time(row.get("next_retry_at"))),
            ("Last failure", failure),
        ]
    )
    click.echo("")
    click.echo("Journal:")
    echo_table(
        ["index", "entry", "name", "appended"],
        (
            [e.get("index"), e.get("entry_type"), e.get("name"), format_time(e.get("appended_at"))]
            for e in journal
        ),
        empty="  (no entries)",
    )


def _action(
    name: str, operation: str, help_text: str, outcome: Callable[[int], str]
) -> click.Command:
    """A command that sends `PATCH /invocations/{id}/{operation}` for each ID it is given."""

    @click.argument("invocation_ids", metavar="ID...", nargs=-1, required=True)
    @admin_options
    @json_option
    def run(invocation_ids: tuple[str, ...], admin: AdminClient, as_json: bool) -> None:
        results: list[dict[str, object]] = []
        failed = False
        for invocation_id in invocation_ids:
            path = f"/invocations/{path_segment(invocation_id)}/{operation}"
            try:
                response = admin.call("PATCH", path)
            except AdminError as exc:
                if len(invocation_ids) == 1:
                    raise
                # Go on with the other ids; one bad id should not hide the others' outcome.
                failed = True
                results.append({"id": invocation_id, "ok": False, "error": exc.message})
                if not as_json:
                    click.echo(f"Error: {invocation_id}: {exc.message}", err=True)
                continue
            text = outcome(response.status_code)
            results.append({"id": invocation_id, "ok": True, "outcome": text})
            if not as_json:
                click.echo(f"{invocation_id}: {text}")
        if as_json:
            echo_json(results)
        if failed:
            click.get_current_context().exit(1)

    return click.command(name=name, help=help_text)(run)


cancel = _action(
    "cancel",
    "cancel",
    "Cancel invocations gracefully: each gets a cancellation it can react to (its "
    "compensations run), then ends with a 'canceled' failure. Use `kill` to stop at once.",
    lambda status: "cancellation delivered" if status == 202 else "cancelled",
)
kill = _action(
    "kill",
    "kill",
    "Kill invocations: stop them at once, without running compensations; the calls "
    "they are waiting on are killed too. They end with a 'killed' failure.",
    lambda status: "killed",
)
purge = _action(
    "purge",
    "purge",
    "Purge completed invocations: delete their status, journal and retained result now "
    "instead of when their retention ends.",
    lambda status: "purged",
)
pause = _action(
    "pause",
    "pause",
    "Pause running invocations: the current attempt stops and no retry starts until `resume`.",
    lambda status: "pausing" if status == 202 else "paused",
)
resume = _action(
    "resume",
    "resume",
    "Resume paused or suspended invocations, or retry a backing-off one now.",
    lambda status: "resumed",
)
for _command in (cancel, kill, purge, pause, resume):
    command.add_command(_command)
