"""`perdure invocations cancel|kill|purge` on every invocation a selector matches.

`--service S [--status …]` or `--query WHERE-clause` selects the invocations once, through
`POST /query` (`sys_invocation`), then the operation goes to the admin API's batch route
(`POST /internal/invocations_batch_operations/{op}`) in chunks, with a progress line on
stderr (`cancelled 1200/5000`) and a summary at the end. More than a few invocations are
acted on only after a confirmation (`--yes` skips it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from perdure.cli._admin import AdminClient, AdminError
from perdure.cli._invocation_rows import STATUSES, filter_conditions
from perdure.cli._output import echo_json

F = TypeVar("F", bound=Callable[..., Any])

CONFIRM_ABOVE = 5  # more invocations than this need a confirmation (or --yes)
BATCH_LIMIT = 1000  # ids per batch request the server takes
_SHOWN_FAILURES = 20


@dataclass(frozen=True)
class Operation:
    name: str  # as in the route: cancel, kill, purge
    done: str  # for the progress line: cancelled, killed, purged
    # The statuses selected when only --service is given: those the operation can act on.
    default_statuses: tuple[str, ...]


OPERATIONS = {
    "cancel": Operation("cancel", "cancelled", tuple(s for s in STATUSES if s != "completed")),
    "kill": Operation("kill", "killed", tuple(s for s in STATUSES if s != "completed")),
    "purge": Operation("purge", "purged", ("completed",)),
}


def selector_options(function: F) -> F:
    """`--service`, `--status`, `--query`, `--yes` and `--chunk-size`."""
    options = [
        click.option(
            "--service",
            default=None,
            metavar="NAME",
            help="Act on the invocations of this service (with --status: in those statuses).",
        ),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            type=click.Choice(STATUSES),
            help="Act on the invocations in this status (repeatable), of every service "
            "unless --service names one.",
        ),
        click.option(
            "--query",
            "where",
            default=None,
            metavar="WHERE",
            help="Act on every invocation this SQL condition over sys_invocation selects, "
            "e.g. \"target_service_name = 'Orders' AND created_at < '2025-01-01'\".",
        ),
        click.option(
            "--yes",
            "-y",
            is_flag=True,
            default=False,
            help=f"Do not ask before acting on more than {CONFIRM_ABOVE} invocations.",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(1, BATCH_LIMIT),
            default=100,
            show_default=True,
            help="Invocations per batch request.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def has_selector(service: str | None, statuses: tuple[str, ...], where: str | None) -> bool:
    return service is not None or bool(statuses) or where is not None


def selection_query(
    operation: Operation, service: str | None, statuses: tuple[str, ...], where: str | None
) -> tuple[str, str]:
    """(the query of the selected ids, how the selection reads in a prompt)."""
    if where is not None:
        if service is not None or statuses:
            raise click.UsageError("--query goes alone, without --service or --status")
        condition, described = f"({where})", f"matching {where}"
    else:
        chosen = statuses or operation.default_statuses
        condition = " AND ".join(filter_conditions(chosen, service))
        described = f"of service {service}" if service is not None else "of every service"
        described += f" ({', '.join(chosen)})"
    return f"SELECT id FROM sys_invocation WHERE {condition} ORDER BY created_at", described


def act_on_selection(
    admin: AdminClient,
    operation: Operation,
    *,
    service: str | None,
    statuses: tuple[str, ...],
    where: str | None,
    yes: bool,
    chunk_size: int,
    as_json: bool,
) -> None:
    sql, described = selection_query(operation, service, statuses, where)
    ids = [str(row["id"]) for row in admin.query(sql) if row.get("id")]
    if not ids:
        if as_json:
            echo_json({"operation": operation.name, "selected": 0, "succeeded": [], "failed": []})
        else:
            click.echo(f"No invocations {described}.")
        return
    if len(ids) > CONFIRM_ABOVE and not yes:
        click.confirm(
            f"{operation.name.capitalize()} {len(ids)} invocations {described}?",
            abort=True,
            err=True,
        )
    succeeded, failed = _in_chunks(admin, operation, ids, chunk_size)
    if as_json:
        echo_json(
            {
                "operation": operation.name,
                "selected": len(ids),
                "succeeded": succeeded,
                "failed": failed,
            }
        )
    else:
        for failure in failed[:_SHOWN_FAILURES]:
            click.echo(f"Error: {failure['id']}: {failure['error']}", err=True)
        if len(failed) > _SHOWN_FAILURES:
            more = len(failed) - _SHOWN_FAILURES
            click.echo(f"... and {more} more failures (--json lists them all)", err=True)
        summary = f"{operation.done} {len(succeeded)} of {len(ids)} invocations"
        click.echo(summary + (f"; {len(failed)} failed" if failed else ""))
    if failed:
        click.get_current_context().exit(1)


def _in_chunks(
    admin: AdminClient, operation: Operation, ids: list[str], chunk_size: int
) -> tuple[list[str], list[dict[str, str]]]:
    """Send `ids` to the batch route `chunk_size` at a time, saying how far it got."""
    succeeded: list[str] = []
    failed: list[dict[str, str]] = []
    progress = _Progress(operation.done, len(ids))
    try:
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            path = f"/internal/invocations_batch_operations/{operation.name}"
            answer = admin.post(path, {"invocation_ids": chunk}).json()
            if not isinstance(answer, dict):
                raise AdminError(f"{admin.url}: the batch route answered {answer!r}")
            succeeded += [str(i) for i in answer.get("succeeded", [])]
            failed += [
                {"id": str(f.get("invocation_id")), "error": str(f.get("error"))}
                for f in answer.get("failed", [])
                if isinstance(f, dict)
            ]
            progress.show(len(succeeded) + len(failed))
    finally:
        progress.close()
    return succeeded, failed


class _Progress:
    """`cancelled 1200/5000` on stderr: rewritten in place on a terminal, else a line per
    chunk (a log file or a pipe keeps every step)."""

    def __init__(self, done: str, total: int) -> None:
        self.done = done
        self.total = total
        self.in_place = sys.stderr.isatty()
        self.shown = False

    def show(self, count: int) -> None:
        line = f"{self.done} {count}/{self.total}"
        if self.in_place:
            click.echo(f"\r{line}", nl=False, err=True)
        else:
            click.echo(line, err=True)
        self.shown = True

    def close(self) -> None:
        if self.in_place and self.shown:
            click.echo("", err=True)
