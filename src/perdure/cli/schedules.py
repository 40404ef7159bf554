"""`perdure schedules`: cron schedules (perdure's admin API `/schedules`)."""

from __future__ import annotations

import json
from typing import Any

import click

from perdure.cli._admin import AdminClient, admin_options, path_segment
from perdure.cli._output import echo_fields, echo_json, echo_table, json_option


@click.group(name="schedules")
def command() -> None:
    """Manage cron schedules: list, describe, create, pause, resume, trigger, backfill."""


@command.command(name="list")
@admin_options
@json_option
def list_schedules(admin: AdminClient, as_json: bool) -> None:
    """List the schedules with their next and last tick."""
    schedules: list[dict[str, Any]] = admin.get("/schedules").get("schedules", [])
    if as_json:
        echo_json(schedules)
        return
    echo_table(
        ["name", "cron", "timezone", "target", "state", "next", "last", "fired", "skipped"],
        (
            [
                s.get("name"),
                s.get("cron"),
                s.get("timezone"),
                s.get("target"),
                "paused" if s.get("paused") else "active",
                s.get("next_fire_at"),
                s.get("last_fire_at"),
                s.get("fired"),
                s.get("skipped"),
            ]
            for s in schedules
        ),
        empty="No schedules.",
    )


@command.command(name="describe")
@click.argument("name")
@admin_options
@json_option
def describe(name: str, admin: AdminClient, as_json: bool) -> None:
    """Show one schedule."""
    schedule: dict[str, Any] = admin.get(f"/schedules/{path_segment(name)}")
    if as_json:
        echo_json(schedule)
        return
    echo_fields((label, schedule.get(field)) for label, field in _FIELDS)


_FIELDS = (
    ("Name", "name"),
    ("Cron", "cron"),
    ("Time zone", "timezone"),
    ("Target", "target"),
    ("Argument", "argument"),
    ("Overlap", "overlap"),
    ("Catch-up", "catch_up"),
    ("Source", "source"),
    ("Paused", "paused"),
    ("Next tick", "next_fire_at"),
    ("Last tick", "last_fire_at"),
    ("Last invocation", "last_invocation_id"),
    ("Buffered tick", "buffered_tick"),
    ("Fired", "fired"),
    ("Skipped", "skipped"),
)


@command.command(name="create")
@click.argument("name")
@click.argument("cron")
@click.argument("target", metavar="SERVICE/HANDLER")
@click.option("--key", help="Object or workflow key ({tick} becomes the tick's time).")
@click.option("--arg", "argument", metavar="JSON", help="The handler's input, as JSON.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option(
    "--overlap",
    type=click.Choice(["skip", "buffer_one", "allow"]),
    default="skip",
    show_default=True,
)
@click.option(
    "--catch-up", type=click.Choice(["skip", "all", "latest"]), default="skip", show_default=True
)
@admin_options
@json_option
def create(
    name: str,
    cron: str,
    target: str,
    key: str | None,
    argument: str | None,
    timezone: str,
    overlap: str,
    catch_up: str,
    admin: AdminClient,
    as_json: bool,
) -> None:
    """Create schedule NAME: invoke SERVICE/HANDLER at every tick of CRON."""
    body: dict[str, object] = {
        "name": name,
        "cron": cron,
        "target": target,
        "timezone": timezone,
        "overlap": overlap,
        "catch_up": catch_up,
    }
    if key is not None:
        body["key"] = key
    if argument is not None:
        try:
            body["argument"] = json.loads(argument)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--arg") from None
    created = admin.post("/schedules", body).json()
    _done(created, as_json, f"Created schedule {name}; next tick {created.get('next_fire_at')}.")


def _done(data: object, as_json: bool, text: str) -> None:
    if as_json:
        echo_json(data)
    else:
        click.echo(text)


@command.command(name="pause")
@click.argument("name")
@admin_options
@json_option
def pause(name: str, admin: AdminClient, as_json: bool) -> None:
    """Stop ticking until resumed."""
    row = admin.call("PATCH", f"/schedules/{path_segment(name)}/pause").json()
    _done(row, as_json, f"Paused schedule {name}.")


@command.command(name="resume")
@click.argument("name")
@admin_options
@json_option
def resume(name: str, admin: AdminClient, as_json: bool) -> None:
    """Tick again from now on (ticks while paused are not run)."""
    row = admin.call("PATCH", f"/schedules/{path_segment(name)}/resume").json()
    _done(row, as_json, f"Resumed schedule {name}; next tick {row.get('next_fire_at')}.")


@command.command(name="trigger")
@click.argument("name")
@admin_options
@json_option
def trigger(name: str, admin: AdminClient, as_json: bool) -> None:
    """Run the schedule's handler once now, besides its ticks."""
    answer = admin.post(f"/schedules/{path_segment(name)}/trigger", {}).json()
    _done(answer, as_json, f"Started {answer.get('invocation_id')}.")


@command.command(name="backfill")
@click.argument("name")
@click.argument("start", metavar="FROM")
@click.argument("end", metavar="TO")
@admin_options
@json_option
def backfill(name: str, start: str, end: str, admin: AdminClient, as_json: bool) -> None:
    """Run every tick between FROM and TO (RFC 3339) that did not run yet."""
    answer = admin.post(f"/schedules/{path_segment(name)}/backfill", {"from": start, "to": end})
    ids = answer.json().get("invocation_ids", [])
    _done(answer.json(), as_json, f"Started {len(ids)} invocation(s).")


@command.command(name="delete")
@click.argument("name")
@admin_options
def delete(name: str, admin: AdminClient) -> None:
    """Delete a schedule (a code schedule comes back when its app is registered again)."""
    admin.call("DELETE", f"/schedules/{path_segment(name)}")
    click.echo(f"Deleted schedule {name}.")
