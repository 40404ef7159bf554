"""`perdure sql`: run one read-only query over the introspection tables (`POST /query`,
restate's SQL: the same queries work against restate-server)."""

from __future__ import annotations

import click

from perdure.cli._admin import AdminClient, admin_options
from perdure.cli._output import echo_json, echo_table, json_option


@click.command(name="sql")
@click.argument("query")
@admin_options
@json_option
def command(query: str, admin: AdminClient, as_json: bool) -> None:
    """Run QUERY, e.g. "SELECT status, COUNT(*) FROM sys_invocation GROUP BY status"
    (--json: the rows as JSON objects, null columns left out)."""
    rows = admin.query(query)
    if as_json:
        echo_json(rows)
        return
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    echo_table(
        list(columns),
        ([row.get(c) for c in columns] for row in rows),
        empty="No rows.",
    )
    click.echo(f"{len(rows)} rows.")
