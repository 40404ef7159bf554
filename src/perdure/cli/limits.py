"""`perdure limits`: flow-control rules and, per limit, how many invocations run and wait."""

from __future__ import annotations

import re
from typing import Any

import click

from perdure.cli._admin import AdminClient, admin_options, path_segment
from perdure.cli._output import echo_json, echo_table, json_option

_RATE = re.compile(r"^(\d+)/(\d+)?(ms|s|m|h)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@click.group(name="limits")
def command() -> None:
    """Concurrency and rate limits: list them with their usage, set or delete a rule."""


def _target(rule: dict[str, Any]) -> str:
    if rule.get("pattern") is not None:
        return f"pattern {rule['pattern']}"
    return str(rule.get("service")) + (f"/{rule['handler']}" if rule.get("handler") else "")


def _rate(rule: dict[str, Any]) -> str:
    rate = rule.get("rate")
    if not rate:
        return ""
    return f"{rate['count']}/{rate['period_ms']}ms burst {rate['burst']}"


@command.command(name="list")
@admin_options
@json_option
def list_limits(admin: AdminClient, as_json: bool) -> None:
    """List the rules; one line per group of each, with running and queued invocations."""
    rules: list[dict[str, Any]] = admin.get("/limits").get("limits", [])
    if as_json:
        echo_json(rules)
        return
    rows = []
    for rule in rules:
        usage = rule.get("groups") or [{"group": "", "running": 0, "queued": 0}]
        for group in usage:
            rows.append(
                [
                    rule.get("id"),
                    _target(rule),
                    rule.get("concurrency") or "",
                    _rate(rule),
                    rule.get("limit_by") or "",
                    group.get("group"),
                    group.get("running"),
                    group.get("queued"),
                ]
            )
    echo_table(
        ["rule", "target", "concurrency", "rate", "by", "group", "running", "queued"],
        rows,
        empty="No limits.",
    )


@command.command(name="set")
@click.argument("rule_id", metavar="ID")
@click.argument("target", metavar="SERVICE[/HANDLER]")
@click.option("--concurrency", type=click.IntRange(min=1), help="Invocations at once.")
@click.option("--rate", metavar="N/PERIOD", help="Starts per period, e.g. 100/1s or 5/m.")
@click.option("--burst", type=click.IntRange(min=1), help="Starts at once (default 1).")
@click.option("--limit-by", help="key, limit_key, key_prefix:N or key_before:SEPARATOR.")
@click.option("--priority", type=int, help="Default priority of its invocations.")
@admin_options
@json_option
def set_limit(
    rule_id: str,
    target: str,
    concurrency: int | None,
    rate: str | None,
    burst: int | None,
    limit_by: str | None,
    priority: int | None,
    admin: AdminClient,
    as_json: bool,
) -> None:
    """Create or replace rule ID on SERVICE (or one handler of it)."""
    service, _, handler = target.partition("/")
    body: dict[str, object] = {"service": service}
    if handler:
        body["handler"] = handler
    if concurrency is not None:
        body["concurrency"] = concurrency
    if rate is not None:
        match = _RATE.match(rate)
        if match is None:
            raise click.BadParameter("use N/PERIOD, e.g. 100/1s", param_hint="--rate")
        count, amount, unit = match.groups()
        period = int(amount or 1) * _UNIT_MS[unit]
        body["rate"] = {"count": int(count), "period_ms": period, "burst": burst or 1}
    if limit_by is not None:
        body["limit_by"] = limit_by
    if priority is not None:
        body["priority"] = priority
    rule = admin.call("PUT", f"/limits/{path_segment(rule_id)}", json=body).json()
    if as_json:
        echo_json(rule)
    else:
        click.echo(f"Set limit {rule_id} (version {rule.get('version')}).")


@command.command(name="delete")
@click.argument("rule_id", metavar="ID")
@admin_options
def delete(rule_id: str, admin: AdminClient) -> None:
    """Delete a rule; invocations queued behind it start (or queue behind another)."""
    admin.call("DELETE", f"/limits/{path_segment(rule_id)}")
    click.echo(f"Deleted limit {rule_id}.")
